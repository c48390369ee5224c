"""Soak: the default stack (`make run`: SQLite, SQLite queue, supervisor, simulator) under steady traffic.

    .venv/bin/python -m benchmarks.soak [--minutes 30] [--clients 4] [--cycle-s 1.2] [--chat-rps 2] [--browse-rps 2]

In a temporary VAR_DIR on free ports it does what `make run` does (migrate, snapshot import, demo setup, the
Procfile under `broker.supervisor`), then for `--minutes`: each rental client creates a rental through the
REST API, terminates it after a random hold and starts the next every `--cycle-s`; a deployment of the tiny
chat model answers gateway calls through the openai client; a browser reads offers pages. Then traffic
stops, the deployment is deleted and everything is given `--settle-s` to finish. Prints JSON: crashes and
restarts per process, task latency (rental created → picked up, terminate → terminated), lost and stuck
rentals (not final `--stuck-after-s` after their terminate), leaked simulator nodes, RSS growth per process.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
GPUS = ["H100", "H200", "A100", "A100-80GB", "L40S", "L4", "A6000", "RTX4090"]
FINAL = ("terminated", "failed")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, max(0, int(len(ordered) * q + 0.5) - 1))], 1)


def _summary(values: list[float]) -> dict:
    return {"n": len(values), "p50_ms": _pct(values, 0.5), "p99_ms": _pct(values, 0.99),
            "max_ms": round(max(values), 1) if values else None}


class Stack:
    """The `make run` stack in a temporary directory."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.port, self.sim_port, self.gateway_port = tmp, _free_port(), _free_port(), _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.gateway_url = f"http://127.0.0.1:{self.gateway_port}/v1"
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "CELERY_TASK_ALWAYS_EAGER")}
        self.env.update(VAR_DIR=str(tmp), PORT=str(self.port), SIM_PORT=str(self.sim_port), PYTHONPATH=str(REPO),
                        GATEWAY_PORT=str(self.gateway_port), GATEWAY_PUBLIC_URL=self.gateway_url,
                        PUBLIC_BASE_URL=self.url, SIMULATOR_URL=f"http://127.0.0.1:{self.sim_port}",
                        DJANGO_SETTINGS_MODULE="broker.settings")
        self.supervisor: subprocess.Popen | None = None

    def manage(self, *args: str) -> str:
        return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=self.env, check=True,
                              capture_output=True, text=True).stdout

    def prepare(self) -> None:
        self.manage("migrate", "--noinput", "-v0")
        self.manage("import_catalog", "--snapshot")
        self.manage("setup_demo", "--simulator-url", self.env["SIMULATOR_URL"], "--public-url", self.url)

    def start(self) -> None:
        self.supervisor = subprocess.Popen(
            [sys.executable, "-m", "broker.supervisor", "--procfile", "Procfile", "--state",
             str(self.tmp / "supervisor.json")], cwd=REPO, env=self.env,
            stdout=(self.tmp / "stack.log").open("w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/api/v1/offers?page_size=1", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"web did not come up; see {self.tmp / 'stack.log'}")

    def state(self) -> dict:
        try:
            return json.loads((self.tmp / "supervisor.json").read_text())
        except (OSError, ValueError):
            return {}

    def stop(self) -> dict:
        """SIGTERM the supervisor; report whether anything it ran outlived it."""
        pgids = [p["pid"] for p in self.state().get("processes", {}).values() if p.get("pid")]
        self.supervisor.send_signal(signal.SIGTERM)
        code = self.supervisor.wait(60)
        deadline = time.monotonic() + 5  # SIGKILLed group members may still be exiting
        while (left := [pid for pid in _all_pids() if _pgid(pid) in pgids and _alive(pid)]) and \
                time.monotonic() < deadline:
            time.sleep(0.2)
        runtimes = [pid for pid in _runtime_pids(self.tmp) if _alive(pid)]
        return {"supervisor_exit": code, "processes_left": len(left), "node_runtimes_left": len(runtimes),
                "state_file_left": (self.tmp / "supervisor.json").exists()}


def _all_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _pgid(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[2]) if fields else None


def _alive(pid: int) -> bool:
    fields = _stat(pid)
    return bool(fields) and fields[0] != "Z"


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _runtime_pids(tmp: Path) -> list[int]:
    pids = []
    for pid_file in (tmp / "simulator-nodes").glob("*.pid"):
        try:
            pids.append(int(pid_file.read_text().split()[0]))
        except (OSError, ValueError, IndexError):
            continue
    return pids


class Traffic:
    """The load generators; each records what it saw."""

    def __init__(self, stack: Stack, keys: list[str], args, until: float) -> None:
        self.stack, self.keys, self.args, self.until = stack, keys, args, until
        self.rentals: list[dict] = []  # {"id", "terminate_at"} (wall clock)
        self.refused: dict[int, int] = {}
        self.chat_ms: list[float] = []
        self.chat_errors: list[str] = []
        self.browse_ms: list[float] = []
        self.browse_errors: list[str] = []
        self.lock = threading.Lock()

    def rental_client(self, index: int) -> None:
        rng = random.Random(index)
        headers = {"Authorization": f"Bearer {self.keys[index]}"}
        with httpx.Client(base_url=self.stack.url, headers=headers, timeout=30) as client:
            while time.time() < self.until:
                started = time.monotonic()
                body = {"gpu": rng.choice(GPUS), "max_hours": 1}
                try:
                    answer = client.post("/api/v1/rentals", json=body)
                    if answer.status_code == 202:
                        time.sleep(rng.uniform(0, 2 * self.args.hold_s))
                        rental_id = answer.json()["id"]
                        stopped = client.post(f"/api/v1/rentals/{rental_id}/terminate")
                        with self.lock:
                            self.rentals.append({"id": rental_id, "terminate_at": time.time(),
                                                 "terminate_status": stopped.status_code})
                    else:
                        with self.lock:
                            self.refused[answer.status_code] = self.refused.get(answer.status_code, 0) + 1
                except httpx.HTTPError as exc:
                    with self.lock:
                        self.refused[type(exc).__name__] = self.refused.get(type(exc).__name__, 0) + 1
                time.sleep(max(0.0, self.args.cycle_s - (time.monotonic() - started)))

    def chat_client(self, model: str) -> None:
        from openai import OpenAI

        client = OpenAI(base_url=self.stack.gateway_url, api_key=self.keys[0], max_retries=0, timeout=30)
        self._paced(self.args.chat_rps, lambda: client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "How busy is the queue?"}], max_tokens=16),
            self.chat_ms, self.chat_errors)

    def browser(self) -> None:
        rng = random.Random(99)
        with httpx.Client(base_url=self.stack.url, timeout=30) as client:
            def browse() -> None:
                query = rng.choice([f"gpu={rng.choice(GPUS)}&ordering=price_per_gpu_hour", "jurisdiction=EU",
                                    "ordering=-price_per_gpu_hour&page=2", f"gpu={rng.choice(GPUS)}&min_gpus=8"])
                client.get(f"/api/v1/offers?{query}").raise_for_status()
            self._paced(self.args.browse_rps, browse, self.browse_ms, self.browse_errors)

    def _paced(self, rate: float, call, latencies: list[float], errors: list[str]) -> None:
        interval = 1.0 / rate
        next_at = time.monotonic()
        while time.time() < self.until:
            started = time.perf_counter()
            try:
                call()
                latencies.append((time.perf_counter() - started) * 1000)
            except Exception as exc:  # noqa: BLE001 - every failure is counted, none stops the soak
                errors.append(f"{type(exc).__name__}: {str(exc)[:120]}")
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))


class Sampler:
    """RSS of every supervised process group and the queue backlog, every `every_s`."""

    def __init__(self, stack: Stack, every_s: float) -> None:
        self.stack, self.every_s = stack, every_s
        self.samples: list[dict] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.every_s):
            self.samples.append(self.sample())

    def sample(self) -> dict:
        procs = self.stack.state().get("processes", {})
        groups: dict[int, list[int]] = {}
        for pid in _all_pids():
            groups.setdefault(_pgid(pid) or -1, []).append(pid)
        rss = {name: round(sum(_rss_mb(pid) for pid in groups.get(p["pid"], [])), 1)
               for name, p in procs.items() if p.get("pid")}
        runtimes = [pid for pid in _runtime_pids(self.stack.tmp) if _alive(pid)]
        rss["node_runtimes"] = round(sum(_rss_mb(pid) for pid in runtimes), 1)
        return {"t": time.time(), "load_1m": round(os.getloadavg()[0], 1), "rss_mb": rss, "node_runtimes": len(runtimes), "queue_backlog": self._backlog()}

    def _backlog(self) -> int | None:
        try:
            with sqlite3.connect(self.stack.tmp / "celery-broker.sqlite3", timeout=10) as conn:
                return conn.execute("SELECT COUNT(*) FROM kombu_messages").fetchone()[0]
        except sqlite3.Error:
            return None

    def memory(self, warmup_s: float) -> dict:
        if not self.samples:
            return {}
        start = self.samples[0]["t"] + warmup_s
        steady = [s for s in self.samples if s["t"] >= start] or self.samples[-1:]
        first, last = steady[0], steady[-1]
        hours = max((last["t"] - first["t"]) / 3600, 1e-9)
        report = {}
        for name, mb in last["rss_mb"].items():
            if name == "node_runtimes":
                continue
            before = first["rss_mb"].get(name, 0.0)
            peak = max(s["rss_mb"].get(name, 0.0) for s in steady)
            series = [s["rss_mb"].get(name, 0.0) for s in steady[::max(1, len(steady) // 8)]]
            report[name] = {"rss_start_mb": before, "rss_end_mb": mb, "rss_peak_mb": peak,
                            "growth_mb": round(mb - before, 1), "growth_mb_per_h": round((mb - before) / hours, 1),
                            "rss_series_mb": series}
        return report


def _chaos(stack: Stack, name: str, every_s: float, until: float, kills: list[float]) -> None:
    """SIGKILL the `name` process group every `every_s` (fault injection: the supervisor must bring it back)."""
    while time.time() + every_s < until:
        time.sleep(every_s)
        pid = stack.state().get("processes", {}).get(name, {}).get("pid")
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
                kills.append(time.time())


def _setup_keys(stack: Stack, count: int) -> list[str]:
    """One API key per client (the per-key write rate limit is per user, as it would be)."""
    os.environ.update({k: stack.env[k] for k in ("VAR_DIR", "DJANGO_SETTINGS_MODULE", "PUBLIC_BASE_URL")})
    os.environ["LOG_LEVEL"] = "WARNING"  # this process's own request log would drown the report
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    import django

    django.setup()
    from marketplace.services.api_keys import api_key_create, workspace_ensure

    workspace, user = workspace_ensure(name="demo", owner_email="demo@gpubroker.local", staff=True)
    return [api_key_create(workspace=workspace, user=user, name=f"soak-{i}")[1] for i in range(count)]


def _deploy(stack: Stack, key: str, timeout: float = 300) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {key}"}
    body = {"name": "soak-chat", "model": "gpu-broker/tiny-cpu-chat", "replicas": {"min": 1, "max": 2}}
    answer = httpx.post(f"{stack.url}/api/v1/deployments", json=body, headers=headers, timeout=30)
    answer.raise_for_status()
    deployment = answer.json()
    deadline = time.monotonic() + timeout
    while deployment["state"] != "ready":
        if time.monotonic() > deadline or deployment["state"] in ("failed", "terminated"):
            raise RuntimeError(f"deployment not ready: {deployment}")
        time.sleep(2)
        deployment = httpx.get(f"{stack.url}/api/v1/deployments/{deployment['id']}", headers=headers,
                               timeout=30).json()
    return deployment["id"], deployment["name"]


def _settle(stack: Stack, key: str, deployment_id: int, settle_s: float) -> float:
    """Delete the deployment; wait until every rental is final. Return the seconds it took."""
    from marketplace.models import Rental

    httpx.delete(f"{stack.url}/api/v1/deployments/{deployment_id}",
                 headers={"Authorization": f"Bearer {key}"}, timeout=30)
    started = time.monotonic()
    while time.monotonic() - started < settle_s:
        if not Rental.objects.exclude(state__in=FINAL).exists():
            break
        time.sleep(2)
    return round(time.monotonic() - started, 1)


def _rental_report(traffic: Traffic, stuck_after_s: float) -> dict:
    from marketplace.models import Rental, RentalEvent

    ours = {r["id"]: r for r in traffic.rentals}
    events: dict[int, list] = {}
    for rental_id, at, from_state, to_state in RentalEvent.objects.filter(rental_id__in=ours).values_list(
            "rental_id", "at", "from_state", "to_state").order_by("at", "id"):
        events.setdefault(rental_id, []).append((at.timestamp(), from_state, to_state))
    states = dict(Rental.objects.filter(pk__in=ours).values_list("pk", "state"))
    created = dict(Rental.objects.filter(pk__in=ours).values_list("pk", "created_at"))
    pickup, termination, stuck, lost = [], [], [], []
    for rental_id, record in ours.items():
        rows = events.get(rental_id, [])
        claimed = [at for at, frm, to in rows if frm == "pending" and to != "terminating"]  # the worker's move
        if claimed:
            pickup.append((claimed[0] - created[rental_id].timestamp()) * 1000)
        final_at = next((at for at, _, to in rows if to in FINAL), None)
        asked_at = next((at for at, _, to in rows if to == "terminating"), None)
        if final_at is not None and asked_at is not None:
            termination.append((final_at - asked_at) * 1000)
        if states.get(rental_id) not in FINAL or (final_at or 0) > record["terminate_at"] + stuck_after_s:
            stuck.append(rental_id)
        if states.get(rental_id) == "pending":  # its provisioning task never ran
            lost.append(rental_id)
    by_state: dict[str, int] = {}
    for state in states.values():
        by_state[state] = by_state.get(state, 0) + 1
    return {"created": len(ours), "final_states": by_state, "stuck": len(stuck), "stuck_ids": stuck[:20],
            "lost": len(lost), "task_latency": {"created_to_picked_up": _summary(pickup),
                                                "terminate_to_terminated": _summary(termination)}}


def _leaks(stack: Stack) -> dict:
    from marketplace.models import Node, Partner

    live = 0
    for slug in Partner.objects.values_list("slug", flat=True):
        answer = httpx.get(f"{stack.env['SIMULATOR_URL']}/_control/{slug}", timeout=10)
        if answer.status_code == 200:
            live += answer.json()["live_nodes"]
    open_nodes = Node.objects.exclude(state__in=FINAL).count()
    return {"simulator_live_nodes": live, "broker_open_nodes": open_nodes, "leaked": live + open_nodes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--clients", type=int, default=4, help="rental clients, one API key each")
    parser.add_argument("--cycle-s", type=float, default=1.2, help="one rental created and terminated per client")
    parser.add_argument("--hold-s", type=float, default=1.0, help="mean seconds a rental lives before terminate")
    parser.add_argument("--chat-rps", type=float, default=2.0)
    parser.add_argument("--browse-rps", type=float, default=2.0)
    parser.add_argument("--settle-s", type=float, default=180)
    parser.add_argument("--stuck-after-s", type=float, default=60, help="a rental not final this long after its terminate is stuck")
    parser.add_argument("--sample-s", type=float, default=15)
    parser.add_argument("--kill-worker-every-s", type=float, default=0,
                        help="fault injection: SIGKILL the worker this often (0 = never)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="soak-"))
    stack = Stack(tmp)
    stack.prepare()
    keys = _setup_keys(stack, args.clients)
    stack.start()
    sampler = Sampler(stack, args.sample_s)
    threading.Thread(target=sampler.run, daemon=True).start()
    stopped: dict = {}
    kills: list[float] = []
    try:
        deployment_id, model = _deploy(stack, keys[0])
        started = time.time()
        traffic = Traffic(stack, keys, args, until=started + args.minutes * 60)
        threads = [threading.Thread(target=traffic.rental_client, args=(i,)) for i in range(args.clients)]
        threads += [threading.Thread(target=traffic.chat_client, args=(model,)), threading.Thread(target=traffic.browser)]
        if args.kill_worker_every_s:
            threads.append(threading.Thread(target=_chaos, args=(stack, "worker", args.kill_worker_every_s,
                                                                 traffic.until, kills)))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        traffic_s = time.time() - started
        settle_s = _settle(stack, keys[0], deployment_id, args.settle_s)
        sampler.stop.set()
        rentals = _rental_report(traffic, args.stuck_after_s)
        leaks = _leaks(stack)
        processes = stack.state().get("processes", {})
    finally:
        sampler.stop.set()
        stopped = stack.stop()
    backlog = [s["queue_backlog"] for s in sampler.samples if s["queue_backlog"] is not None]
    load = [s["load_1m"] for s in sampler.samples]
    print(json.dumps({
        "minutes": round(traffic_s / 60, 1), "var_dir": str(tmp), "cpus": os.cpu_count(),
        "load_average_1m_during": [min(load), max(load)] if load else None,
        "traffic": {"rental_clients": args.clients, "rentals_per_min": round(len(traffic.rentals) / traffic_s * 60, 1),
                    "rental_requests_refused": traffic.refused,
                    "gateway_calls": _summary(traffic.chat_ms), "gateway_errors": len(traffic.chat_errors),
                    "gateway_error_samples": traffic.chat_errors[:5],
                    "offer_pages": _summary(traffic.browse_ms), "offer_page_errors": len(traffic.browse_errors)},
        "injected_worker_kills": len(kills),
        "crashes": sum(p["restarts"] for p in processes.values()) - len(kills),
        "restarts": {name: p["restarts"] for name, p in processes.items()},
        "exits": {name: p["exits"] for name, p in processes.items() if p["exits"]},
        "rentals": rentals, "settle_s": settle_s, "queue_backlog_max": max(backlog, default=None),
        "leaks": leaks, "memory": sampler.memory(warmup_s=min(120, traffic_s / 4)),
        "node_runtimes_peak": max((s["node_runtimes"] for s in sampler.samples), default=0),
        "shutdown": stopped,
    }, indent=2, default=str))


if __name__ == "__main__":
    main()
