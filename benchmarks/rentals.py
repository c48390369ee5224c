"""Rentals end to end: N rentals through 2 Celery worker processes on Redis against the partner simulator.

10 % of launches fail for capacity (the simulator injects them), so failover is part of the measurement.
Then every rental is terminated and the leak check compares the partners' live nodes with the broker's.

Run: .venv/bin/python -m benchmarks.rentals [--rentals 1000] [--workers 2]
Needs PostgreSQL and Redis (BENCH_DATABASE_URL, BENCH_BROKER_URL). Prints JSON.
"""

import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
GPUS = ["H100", "H200", "A100", "A100-80GB", "L40S", "L4", "B200", "RTX4090", "A6000"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _fresh_database(url: str) -> None:
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _spawn(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(args, cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)


def _partner_live_nodes(sim_url: str, slugs: list[str]) -> int:
    return sum(requests.get(f"{sim_url}/_control/{slug}", timeout=10).json()["live_nodes"] for slug in slugs)


def main() -> None:  # noqa: PLR0915 - one linear script
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rentals", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8, help="task threads per worker process")
    parser.add_argument("--fail-rate", type=float, default=0.1)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    db_url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gpubroker_bench_rentals")
    broker_url = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/9")
    tmp = Path(tempfile.mkdtemp(prefix="rentals-bench-"))
    sim_port = _free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    env = {**os.environ, "DEV_SECRETS": "true", "DATABASE_URL": db_url, "CELERY_BROKER_URL": broker_url, "VAR_DIR": str(tmp),
           "PROVISION_POLL_S": "0.5", "LOG_LEVEL": "WARNING", "RENTAL_RATE_LIMIT_PER_MIN": "100000"}
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "CELERY_BROKER_URL", "VAR_DIR", "RENTAL_RATE_LIMIT_PER_MIN")})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "broker.settings")
    _fresh_database(db_url)
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    from broker.celery import app as celery_app
    from marketplace.models import Node, Partner, Rental, RentalAttempt
    from marketplace.services.api_keys import api_key_create, workspace_ensure

    call_command("migrate", verbosity=0)
    call_command("import_catalog", "--snapshot", stdout=open(os.devnull, "w"))
    call_command("setup_demo", "--simulator-url", sim_url, stdout=open(os.devnull, "w"))
    celery_app.control.purge()
    slugs = list(Partner.objects.values_list("slug", flat=True))
    processes = [_spawn([sys.executable, "manage.py", "simulate_partners", "--port", str(sim_port), "--capacity",
                         "50", "--delay", "0.5", "--fail-rate", str(args.fail_rate), "--seed", "7", "--state",
                         str(tmp / "sim.sqlite3")], env, tmp / "simulator.log")]
    processes += [_spawn([sys.executable, "-m", "celery", "-A", "broker", "worker", "--pool", "threads",
                          "--concurrency", str(args.threads), "--hostname", f"bench{i}@%h", "--loglevel", "WARNING"],
                         env, tmp / f"worker{i}.log") for i in range(args.workers)]
    try:
        for _ in range(100):
            try:
                requests.get(f"{sim_url}/_control/{slugs[0]}", timeout=2)
                break
            except requests.RequestException:
                time.sleep(0.2)
        workspace, user = workspace_ensure(name="bench")
        _, token = api_key_create(workspace=workspace, user=user)
        client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
        rng = random.Random(7)
        started = time.perf_counter()
        refused = 0
        for _ in range(args.rentals):
            body = {"gpu": rng.choice(GPUS), "gpus_per_node": rng.choice([1, 1, 2, 8]), "max_hours": 1}
            refused += client.post("/api/v1/rentals", body, content_type="application/json").status_code != 202
        submitted_s = time.perf_counter() - started
        deadline = time.monotonic() + args.timeout
        while Rental.objects.filter(state__in=("pending", "provisioning")).exists() and time.monotonic() < deadline:
            time.sleep(1)
        settled_s = time.perf_counter() - started
        rentals = list(Rental.objects.values("state", "created_at", "running_since"))
        to_running = sorted((r["running_since"] - r["created_at"]).total_seconds() * 1000
                            for r in rentals if r["running_since"])
        running_nodes = Node.objects.filter(state="running", rental__state="running").count()
        live_while_running = _partner_live_nodes(sim_url, slugs)
        for rental_id in Rental.objects.filter(state="running").values_list("pk", flat=True):
            client.post(f"/api/v1/rentals/{rental_id}/terminate")
        while Rental.objects.filter(state="terminating").exists() and time.monotonic() < deadline + 120:
            time.sleep(1)
        live_after = _partner_live_nodes(sim_url, slugs)
        states = [r["state"] for r in rentals]
        print(json.dumps({
            "benchmark": "rentals",
            "config": {"server": "none: requests through Django's in-process test client", "response_cache": "none",
                       "workers": args.workers, "queue": os.environ.get("CELERY_BROKER_URL", "settings default")},
            "rentals": args.rentals, "refused_at_request": refused, "worker_processes": args.workers,
            "injected_capacity_error_rate": args.fail_rate,
            "running": states.count("running"), "failed": states.count("failed"),
            "stuck": states.count("pending") + states.count("provisioning"),
            "submit_s": round(submitted_s, 1), "settle_s": round(settled_s, 1),
            "rentals_per_s": round(len(to_running) / settled_s, 1),
            "to_running_p50_ms": round(statistics.median(to_running)) if to_running else None,
            "to_running_p99_ms": round(to_running[int(len(to_running) * 0.99) - 1]) if to_running else None,
            "failovers": RentalAttempt.objects.filter(outcome="failed").count(),
            "leak_check": {"broker_running_nodes": running_nodes, "partner_live_nodes": live_while_running,
                           "partner_live_after_terminate": live_after,
                           "leaked": abs(live_while_running - running_nodes) + live_after},
        }, indent=2))
    finally:
        for process in processes:
            _stop(process)


if __name__ == "__main__":
    main()
