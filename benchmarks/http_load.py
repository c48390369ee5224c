"""Shared pieces of the HTTP benchmarks: start a server the way production runs it, drive it over keep-alive.

The load generator is plain `http.client` on persistent connections (no per-request client overhead worth
measuring), one thread per concurrent client. `taskset` pinning is applied when a CPU list is given.
"""

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SERVERS = {
    "gunicorn-gthread": "gunicorn (WSGI), gthread workers",
    "uvicorn": "uvicorn (ASGI), httptools + uvloop",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_command(kind: str, port: int, *, workers: int, threads: int = 4) -> list[str]:
    """The production command line of one server kind (Procfile `web` and `gateway`)."""
    if kind == "gunicorn-gthread":
        return [sys.executable, "-m", "gunicorn", "--config", "python:broker.gunicorn_conf", "--workers",
                str(workers), "--threads", str(threads), "--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    if kind == "uvicorn":
        return [sys.executable, "-m", "uvicorn", "broker.asgi:application", "--host", "127.0.0.1",
                "--port", str(port), "--workers", str(workers), "--http", "httptools", "--loop", "uvloop",
                "--no-access-log", "--lifespan", "off", "--log-level", "warning", "--timeout-keep-alive", "75"]
    raise ValueError(f"unknown server {kind!r}; one of {sorted(SERVERS)}")


@dataclass
class Server:
    kind: str
    port: int
    process: subprocess.Popen
    cpus: str | None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def pids(self) -> list[int]:
        """The master and its workers (taskset execs the server, so the pid is the server's)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [self.process.pid, *(int(pid) for pid in (children.read_text().split() if children.exists() else []))]

    def worker_rss_mb(self) -> list[float]:
        """Resident memory of each worker process (the master alone when it has none)."""
        pids = self.pids()
        return [_rss_mb(pid) for pid in (pids[1:] or pids)]

    def settle(self, timeout_s: float = 1200.0) -> None:
        """Wait until the server's processes are idle: every worker has built its offer index at start-up."""
        deadline, quiet = time.monotonic() + timeout_s, 0
        while time.monotonic() < deadline and quiet < 6:  # 3 s without work: not just waiting on a query
            before = self.cpu_s()
            time.sleep(0.5)
            quiet = quiet + 1 if self.cpu_s() - before < 0.05 else 0

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the server's processes have used so far."""
        return sum(cpu_s(pid) for pid in self.pids())


def cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def start_server(kind: str, env: dict, *, workers: int, threads: int = 4, cpus: str | None = None,
                 ready_path: str = "/api/v1/gpus") -> Server:
    port = free_port()
    command = server_command(kind, port, workers=workers, threads=threads)
    if cpus:
        command = ["taskset", "-c", cpus, *command]
    if kind == "gunicorn-gthread":
        env = {"DB_CONN_MAX_AGE": "300", **env}  # as the Procfile's web line
    else:
        env = {**env, "DB_CONN_MAX_AGE": "0"}  # under ASGI connections are not kept (broker/asgi.py refuses)
    process = subprocess.Popen(command, cwd=REPO, env={**os.environ, "DEV_SECRETS": "true", **env})
    server = Server(kind, port, process, cpus)
    for _ in range(300):
        try:
            status, _ = request_once(port, "GET", ready_path)
            if status < 500:
                server.settle()
                return server
        except OSError:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"{kind} exited with {process.returncode}")
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{kind} did not become ready")


def request_once(port: int, method: str, path: str, body: bytes | None = None,
                 headers: dict | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# One request of a load: (method, path, body, headers)
Request = tuple[str, str, bytes | None, dict]


def drive(port: int, requests: Iterator[Request] | Callable[[], Request], *, total: int,
          concurrency: int, ok_statuses: frozenset[int] = frozenset({200})) -> dict:
    """Send `total` requests from `concurrency` keep-alive clients; latencies, throughput, statuses."""
    lock = threading.Lock()
    latencies: list[float] = []
    errors = {"count": 0, "first": None}
    statuses: dict[int, int] = {}
    remaining = [total]
    next_request = requests if callable(requests) else (lambda: next(requests))

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                if remaining[0] <= 0:
                    break
                remaining[0] -= 1
                method, path, body, headers = next_request()
            started = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status, payload = 599, str(exc).encode()
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                statuses[status] = statuses.get(status, 0) + 1
                if status not in ok_statuses:
                    errors["count"] += 1
                    errors["first"] = errors["first"] or f"{status} {path}: {payload[:200]!r}"
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return {"requests": len(latencies), "concurrency": concurrency, "errors": errors["count"],
            "first_error": errors["first"], "statuses": statuses, "requests_per_s": round(len(latencies) / elapsed, 1),
            **percentiles(latencies)}


def percentiles(samples_ms: list[float]) -> dict:
    ordered = sorted(samples_ms)
    if not ordered:
        return {}
    return {"p50_ms": round(statistics.median(ordered), 3),
            "p90_ms": round(ordered[int(len(ordered) * 0.90) - 1], 3),
            "p99_ms": round(ordered[max(0, int(len(ordered) * 0.99) - 1)], 3),
            "max_ms": round(ordered[-1], 3)}


def machine() -> dict:
    """What the numbers were measured on (load average included: this machine is shared)."""
    one, five, fifteen = os.getloadavg()
    return {"python": sys.version.split()[0], "cpus": os.cpu_count(), "load_average_1m": round(one, 2),
            "load_average_5m": round(five, 2), "load_average_15m": round(fifteen, 2)}


def emit(report: dict, output: str | None) -> None:
    text = json.dumps(report, indent=2)
    print(text)
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(text + "\n")
