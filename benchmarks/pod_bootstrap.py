"""Pod bootstrap: a simulated pod node's launch request → its agent's first heartbeat, and → JupyterLab (the
simulator's Jupyter Server double) answering `GET /api/status` with the pod's token.

Each node gets the pod's real cloud-init plan (the agent, hash-checked, plus the pod workload: the user's key,
JupyterLab as a unit with its token in a 0600 env file) through the Partner API of the partner simulator.

Run: .venv/bin/python -m benchmarks.pod_bootstrap [--nodes 5]. Prints JSON (seconds).
"""

import argparse
import json

from benchmarks.node_bootstrap import boot_nodes, summarise
from nim_launcher.plans import NodeContext
from nim_launcher.plans.cloud_init import render_node_plan
from pods.plans import JUPYTER_PORT, pod_workload

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINBttsaegY1Yd+Xuj7uAnFIIiH7jMeUZJC1/bSJ7xe2m bench@laptop"
IMAGE = "docker.io/jupyter/base-notebook@sha256:" + "0" * 64


def pod_plan(ctx: NodeContext) -> tuple[str, int, str, dict]:
    token = f"bench-jupyter-{ctx.node_id}"
    plan = render_node_plan(ctx, pod_workload(user="ubuntu", ssh_public_key=KEY, jupyter_image=IMAGE,
                                              jupyter_token=token))
    return plan, JUPYTER_PORT, f"http://{{ip}}:{JUPYTER_PORT}/api/status", {"token": token}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=5)
    args = parser.parse_args()
    runs, _ = boot_nodes(args.nodes, pod_plan)
    print(json.dumps({"nodes": args.nodes, **summarise(runs, "jupyter_ready_s")}, indent=2))


if __name__ == "__main__":
    main()
