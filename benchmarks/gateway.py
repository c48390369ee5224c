"""Gateway overhead: the same chat and embedding load sent straight to a replica and through the broker.

    .venv/bin/python -m benchmarks.gateway [--requests 2000] [--rounds 3] [--concurrency 1,16]
                                           [--layouts pinned,unpinned]

Starts a local runtime replica and the gateway as production runs it (uvicorn, one process) on a temporary
SQLite database, then prints JSON: requests/s, p50 and p99 for each path and the difference, each process's
CPU per request (load generator, replica, gateway) and the throughput those CPU costs alone would keep. Run
twice: pinned (taskset: replica and load generator on the first CPU, the gateway on the others) and unpinned.
"""

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.http_load import SERVERS, cpu_s, emit, machine, server_command  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CHAT_BODY = {"messages": [{"role": "user", "content": "How does the gateway choose a replica?"}], "max_tokens": 32}
EMBED_BODY = {"input": ["GPU memory and tensor parallelism", "a marketplace of cloud offers"]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_ready(url: str, headers: dict | None = None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, headers=headers, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not become ready")


def prepare_database(env: dict, replica_url: str) -> str:
    """Migrate a fresh database and create a workspace, its key and two deployments; return the key."""
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from marketplace.models import Rental, RentalState
    from marketplace.services.api_keys import api_key_create, workspace_ensure
    from nim_launcher.models import Deployment, Replica
    from nim_launcher.profiles import TINY_CHAT_MODEL, TINY_EMBED_MODEL

    workspace, user = workspace_ensure(name="bench")
    _, token = api_key_create(workspace=workspace, user=user)
    for name, model in (("chat", TINY_CHAT_MODEL), ("embed", TINY_EMBED_MODEL)):
        deployment = Deployment.objects.create(workspace=workspace, name=name, model=model, state="ready")
        rental = Rental.objects.create(workspace=workspace, request={}, request_hash=name, max_hours=Decimal(1),
                                       state=RentalState.RUNNING)
        Replica.objects.create(deployment=deployment, rental=rental, state="ready", endpoint=replica_url)
    return token


async def run_load(url: str, body: dict, *, headers: dict, requests: int, concurrency: int) -> tuple[list[float], int, float]:
    """Latencies (ms), errors and seconds of `requests` POSTs from `concurrency` keep-alive clients."""
    latencies: list[float] = []
    errors = 0
    remaining = iter(range(requests))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30, headers=headers, trust_env=False) as client:
        async def worker() -> None:
            nonlocal errors
            for _ in remaining:
                started = time.perf_counter()
                response = await client.post(url, json=body)
                latencies.append((time.perf_counter() - started) * 1000)
                errors += response.status_code != 200

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return latencies, errors, elapsed


class Side:
    """One path's runs (direct or through the gateway): latencies pooled, throughput and CPU per round."""

    def __init__(self, url: str, body: dict, headers: dict, pids: dict[str, int]) -> None:
        self.url, self.body, self.headers, self.pids = url, body, headers, pids
        self.latencies: list[float] = []
        self.rates: list[float] = []
        self.errors = 0
        self.cpu_s = {name: 0.0 for name in (*pids, "load_generator")}

    async def run(self, requests: int, concurrency: int) -> None:
        before = {name: cpu_s(pid) for name, pid in self.pids.items()}
        load_generator = time.process_time()
        latencies, errors, elapsed = await run_load(self.url, self.body, headers=self.headers,
                                                    requests=requests, concurrency=concurrency)
        self.cpu_s["load_generator"] += time.process_time() - load_generator
        for name, pid in self.pids.items():
            self.cpu_s[name] += cpu_s(pid) - before[name]
        self.latencies += latencies
        self.errors += errors
        self.rates.append(requests / elapsed)

    def report(self) -> dict:
        quantiles = statistics.quantiles(self.latencies, n=100)
        count = len(self.latencies)
        return {"requests": count, "errors": self.errors, "requests_per_s": round(statistics.median(self.rates), 1),
                "requests_per_s_by_round": [round(rate, 1) for rate in self.rates],
                "p50_ms": round(quantiles[49], 2), "p99_ms": round(quantiles[98], 2),
                **{f"{name}_cpu_ms_per_request": round(seconds * 1000 / count, 3) for name, seconds in self.cpu_s.items()}}


def compare(direct: Side, gateway: Side) -> dict:
    ratios = [through / straight for straight, through in zip(direct.rates, gateway.rates, strict=True)]
    d, g = direct.report(), gateway.report()
    return {"added_p50_ms": round(g["p50_ms"] - d["p50_ms"], 2), "added_p99_ms": round(g["p99_ms"] - d["p99_ms"], 2),
            "throughput_kept": round(statistics.median(ratios), 3),
            "throughput_kept_by_round": [round(ratio, 3) for ratio in ratios]}


def cpu_bound(direct: dict, gateway: dict, pinned: bool) -> float:
    """The throughput kept if every process got all the CPU it asks for and nothing else ran: pinned, the load
    generator and the replica share one CPU and the gateway has the other; unpinned, all three share two, and
    the load generator (one thread) never gets more than one."""
    def rate(path: dict, with_gateway: bool) -> float:
        client, replica = path["load_generator_cpu_ms_per_request"], path["replica_cpu_ms_per_request"]
        own = path["gateway_cpu_ms_per_request"] if with_gateway else 0.0
        if pinned:
            return min(1 / (client + replica), 1 / own if own else float("inf"))
        return min(1 / client, 2 / (client + replica + own))
    return round(rate(gateway, True) / rate(direct, False), 3)


async def measure(direct_url: str, gateway_url: str, token: str, args: argparse.Namespace,
                  concurrency: int, pids: dict[str, int], pinned: bool) -> dict:
    """Latency and throughput direct and through the gateway, in rounds that alternate which goes first, so
    that a change in the machine's other load weighs on both alike; the throughput kept is the median of the
    rounds' ratios. Also each process's CPU per request, which that other load inflates far less."""
    results = {}
    auth = {"Authorization": f"Bearer {token}"}
    for kind, path, body, deployment, model in (
        ("chat", "/v1/chat/completions", CHAT_BODY, "chat", "gpu-broker/tiny-cpu-chat"),
        ("embeddings", "/v1/embeddings", EMBED_BODY, "embed", "gpu-broker/tiny-cpu-embed"),
    ):
        direct = Side(direct_url + path, {**body, "model": model}, {}, pids)
        gateway = Side(gateway_url + path, {**body, "model": deployment}, auth, pids)
        for side in (direct, gateway):
            await run_load(side.url, side.body, headers=side.headers, requests=args.warmup, concurrency=concurrency)
        for round_ in range(args.rounds):
            for side in ((direct, gateway) if round_ % 2 == 0 else (gateway, direct)):
                await side.run(args.requests, concurrency)
        d, g = direct.report(), gateway.report()
        results[kind] = {"direct": d, "gateway": g, **compare(direct, gateway),
                         "throughput_kept_if_cpu_bound": cpu_bound(d, g, pinned)}
    return results


def run_layout(args: argparse.Namespace, pinned: bool, env: dict, token: str, replica_port: int) -> dict:
    """One full measurement; pinned: replica and load generator on CPU 0, the gateway alone on the others."""
    cpus = sorted(os.sched_getaffinity(0))
    pin = pinned and len(cpus) >= 2
    client_cpus, gateway_cpus = ({cpus[0]}, cpus[1:]) if pin else (set(cpus), cpus)
    taskset = (lambda cpu_list: ["taskset", "-c", ",".join(map(str, cpu_list))]) if pin else (lambda _: [])
    gateway_port = free_port()
    replica_url, gateway_url = f"http://127.0.0.1:{replica_port}", f"http://127.0.0.1:{gateway_port}"
    gateway_command = server_command("uvicorn", gateway_port, workers=1)
    processes = [
        subprocess.Popen([*taskset(sorted(client_cpus)), sys.executable, "-m", "nim_launcher.runtime",
                          "--port", str(replica_port)], cwd=ROOT, env=env),
        subprocess.Popen([*taskset(gateway_cpus), *gateway_command], cwd=ROOT, env=env),
    ]
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, client_cpus)
    try:
        wait_until_ready(replica_url + "/v1/health/ready")
        wait_until_ready(gateway_url + "/v1/models", headers={"Authorization": f"Bearer {token}"})
        levels = [int(level) for level in args.concurrency.split(",")]
        pids = {"replica": processes[0].pid, "gateway": processes[1].pid}
        load_before = os.getloadavg()[0]
        results = {f"concurrency_{level}": asyncio.run(measure(replica_url, gateway_url, token, args, level, pids, pin))
                   for level in levels}
        results["load_average_1m"] = {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)}
    finally:
        os.sched_setaffinity(0, previous)
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
    return {"pinning": {"replica_and_load_generator_cpus": sorted(client_cpus), "gateway_cpus": gateway_cpus}
            if pin else "unpinned (all processes share every CPU)", **results}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", default="1,16", help="comma-separated levels, each measured in turn")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="direct and gateway runs of --requests each, alternating")
    parser.add_argument("--layouts", default="pinned,unpinned", help="pinned, unpinned or both (comma-separated)")
    parser.add_argument("--output", help="also write the JSON here")
    args = parser.parse_args(argv)
    report = {
        "benchmark": "gateway",
        "config": {"server": f"{SERVERS['uvicorn']}, 1 worker (Procfile gateway)", "replica": "nim_launcher.runtime "
                   "(CPU tiny models)", "database": "sqlite", "gateway_caches": "key and route TTL caches "
                   f"({os.environ.get('GATEWAY_CACHE_TTL_S', 2)} s)", "requests_per_run": args.requests,
                   "rounds": args.rounds,
                   "load_generator": "httpx.AsyncClient, keep-alive"},
        "machine": machine(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        replica_port = free_port()
        env = {**os.environ, "DEV_SECRETS": "true", "DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3", "VAR_DIR": tmp,
               "DJANGO_SETTINGS_MODULE": "broker.settings", "LOG_LEVEL": "WARNING", "DEBUG": "false"}
        token = prepare_database(env, f"http://127.0.0.1:{replica_port}")
        report["layouts"] = {layout: run_layout(args, layout == "pinned", env, token, replica_port)
                             for layout in args.layouts.split(",")}
    emit(report, args.output)


if __name__ == "__main__":
    main()
