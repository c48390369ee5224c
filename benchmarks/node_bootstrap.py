"""Node bootstrap: a simulated node's launch request → its agent's first heartbeat, and → its NIM replica ready.

Each node gets the real cloud-init plan (agent download from a broker double serving the real zipapp,
SHA-256 check, venv, systemd units) through the Partner API of the partner simulator, which boots it.

Run: .venv/bin/python -m benchmarks.node_bootstrap [--nodes 5]. Prints JSON (seconds).
"""

import argparse
import http.server
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests

from marketplace.catalog.skypilot import OfferRow
from nim_launcher.agent_dist import build_agent
from nim_launcher.plans import AgentDownload, NodeContext, render_cloud_init
from nim_launcher.plans.context import NIM_PORT
from nim_launcher.profiles import TINY_CHAT_MODEL, get_model
from providers.base import PortRule, ProvisionSpec
from providers.partner_api import PartnerApiAdapter
from providers.simulator import Faults, SimulatorServer

OFFER = OfferRow("bench", "eu-1", "gpu_1x_l4", "L4", 1, 8, 32, "pcie", 1.0, None)


class Broker(http.server.ThreadingHTTPServer):
    """Serves the agent zipapp and records when each node's first heartbeat arrives."""

    def __init__(self, payload: bytes):
        self.payload, self.first_beat = payload, {}
        super().__init__(("127.0.0.1", 0), Handler)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.server.payload)))
        self.end_headers()
        self.wfile.write(self.server.payload)

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.first_beat.setdefault(self.path.split("/")[4], time.monotonic())
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def boot_and_wait(adapter: PartnerApiAdapter, broker: Broker, node_id: int, plan: str, port: int, ready_url: str,
                  params: dict | None = None) -> dict:
    """Launch one node with `plan`: seconds to its agent's first heartbeat and to `ready_url` ({ip}) answering 200."""
    started = time.monotonic()
    node = adapter.provision(ProvisionSpec(f"bench-{node_id}", "bench", OFFER.instance_type, OFFER.region,
                                           user_data=plan, ports=(PortRule(22), PortRule(port))))
    ready = None
    while time.monotonic() - started < 120 and (ready is None or str(node_id) not in broker.first_beat):
        if ready is None:
            try:
                if requests.get(ready_url.format(ip=node.ip), params=params, timeout=1).status_code == 200:
                    ready = time.monotonic()
            except requests.RequestException:
                pass
        time.sleep(0.05)
    adapter.terminate(node.ref)
    beat = broker.first_beat.get(str(node_id))
    return {"first_heartbeat_s": beat and beat - started, "ready_s": ready and ready - started}


PlanFor = Callable[[NodeContext], tuple[str, int, str, dict | None]]


def boot_nodes(nodes: int, plan_for: PlanFor) -> tuple[list[dict], int]:
    """Boot `nodes` simulated nodes one after another, each with `plan_for(ctx)` → (plan, port, ready URL, params);
    the runs and the agent artifact's size."""
    with tempfile.TemporaryDirectory() as tmp:
        artifact = build_agent(Path(tmp) / "agent")
        broker = Broker(artifact.path.read_bytes())
        threading.Thread(target=broker.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{broker.server_port}"
        agent = AgentDownload(f"{url}/api/v1/agent/{artifact.filename}", artifact.sha256)
        sim = SimulatorServer([OFFER], capacity=nodes, faults=Faults(delay_s=0), run_user_data=True,
                              runtime_dir=Path(tmp) / "nodes").start()
        adapter = PartnerApiAdapter(base_url=sim.partner_api_url("bench"), credentials={"api_key": "sim-bench"})
        try:
            runs = []
            for node_id in range(1, nodes + 1):
                ctx = NodeContext(node_id=node_id, node_token=f"bench-token-{node_id}", broker_url=url, agent=agent)
                runs.append(boot_and_wait(adapter, broker, node_id, *plan_for(ctx)))
        finally:
            sim.stop()
            broker.shutdown()
    return runs, len(broker.payload)


def summarise(runs: list[dict], ready_name: str) -> dict:
    """Median and max seconds per measure (the ready one named `ready_name`), and how many never got there."""
    result = {}
    for key, name in (("first_heartbeat_s", "first_heartbeat_s"), ("ready_s", ready_name)):
        values = [r[key] for r in runs if r[key] is not None]
        result[name] = {"median": round(statistics.median(values), 2) if values else None,
                        "max": round(max(values), 2) if values else None, "missing": len(runs) - len(values)}
    return result


def nim_plan(ctx: NodeContext) -> tuple[str, int, str, None]:
    model = get_model(TINY_CHAT_MODEL)
    plan = render_cloud_init(model, model.profiles[0], ctx, ngc_api_key="")
    return plan, NIM_PORT, f"http://{{ip}}:{NIM_PORT}/v1/health/ready", None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=5)
    args = parser.parse_args()
    runs, artifact_bytes = boot_nodes(args.nodes, nim_plan)
    print(json.dumps({"nodes": args.nodes, "artifact_bytes": artifact_bytes, **summarise(runs, "replica_ready_s")},
                     indent=2))


if __name__ == "__main__":
    main()
