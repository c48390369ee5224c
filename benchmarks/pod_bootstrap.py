"""Pod bootstrap: a simulated pod node's launch request → its agent's first heartbeat, and → JupyterLab (the
simulator's Jupyter Server double) answering `GET /api/status` with the pod's token.

Each node gets the pod's real cloud-init plan (the agent, hash-checked, plus the pod workload: the user's key,
JupyterLab as a unit with its token in a 0600 env file) through the Partner API of the partner simulator.

Run: .venv/bin/python -m benchmarks.pod_bootstrap [--nodes 5]. Prints JSON (seconds).
"""

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import requests

from benchmarks.node_bootstrap import OFFER, Broker
from nim_launcher.agent_dist import build_agent
from nim_launcher.plans import AgentDownload, NodeContext
from nim_launcher.plans.cloud_init import render_node_plan
from pods.plans import JUPYTER_PORT, pod_workload
from providers.base import PortRule, ProvisionSpec
from providers.partner_api import PartnerApiAdapter
from providers.simulator import Faults, SimulatorServer

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINBttsaegY1Yd+Xuj7uAnFIIiH7jMeUZJC1/bSJ7xe2m bench@laptop"
IMAGE = "docker.io/jupyter/base-notebook@sha256:" + "0" * 64


def boot_one(adapter: PartnerApiAdapter, broker: Broker, url: str, agent: AgentDownload, node_id: int) -> dict:
    token = f"bench-jupyter-{node_id}"
    ctx = NodeContext(node_id=node_id, node_token=f"bench-token-{node_id}", broker_url=url, agent=agent)
    plan = render_node_plan(ctx, pod_workload(user="ubuntu", ssh_public_key=KEY, jupyter_image=IMAGE,
                                              jupyter_token=token))
    started = time.monotonic()
    node = adapter.provision(ProvisionSpec(f"bench-pod-{node_id}", "bench", OFFER.instance_type, OFFER.region,
                                           user_data=plan, ports=(PortRule(22), PortRule(JUPYTER_PORT))))
    ready = None
    while time.monotonic() - started < 120 and (ready is None or str(node_id) not in broker.first_beat):
        if ready is None:
            try:
                if requests.get(f"http://{node.ip}:{JUPYTER_PORT}/api/status", params={"token": token},
                                timeout=1).status_code == 200:
                    ready = time.monotonic()
            except requests.RequestException:
                pass
        time.sleep(0.05)
    adapter.terminate(node.ref)
    beat = broker.first_beat.get(str(node_id))
    return {"first_heartbeat_s": beat and beat - started, "jupyter_ready_s": ready and ready - started}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        artifact = build_agent(Path(tmp) / "agent")
        broker = Broker(artifact.path.read_bytes())
        threading.Thread(target=broker.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{broker.server_port}"
        agent = AgentDownload(f"{url}/api/v1/agent/{artifact.filename}", artifact.sha256)
        sim = SimulatorServer([OFFER], capacity=args.nodes, faults=Faults(delay_s=0), run_user_data=True,
                              runtime_dir=Path(tmp) / "nodes").start()
        adapter = PartnerApiAdapter(base_url=sim.partner_api_url("bench"), credentials={"api_key": "sim-bench"})
        try:
            runs = [boot_one(adapter, broker, url, agent, i + 1) for i in range(args.nodes)]
        finally:
            sim.stop()
            broker.shutdown()
    result = {"nodes": args.nodes}
    for key in ("first_heartbeat_s", "jupyter_ready_s"):
        values = [r[key] for r in runs if r[key] is not None]
        result[key] = {"median": round(statistics.median(values), 2) if values else None,
                       "max": round(max(values), 2) if values else None, "missing": len(runs) - len(values)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
