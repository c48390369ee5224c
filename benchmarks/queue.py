"""The default queue (SQLite transport) under load: sustained tasks/s and queue wait, as `make run` runs it.

    .venv/bin/python -m benchmarks.queue [--rate 60] [--seconds 30] [--burst 2000] [--publishers 2]

One Celery worker exactly as the Procfile starts it (threads pool); publisher processes (standing in for web
and beat) send an idempotent task that works `--work-ms` at a steady total `--rate` for `--seconds`, then a
burst of `--burst` tasks at once. Queue wait is publish → task start. Prints JSON.
"""

import argparse
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PUBLISH = """
import sys, time
import django
django.setup()
from tests.broker.effects import record_effect
prefix, count, rate, work_s = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
start = time.monotonic()
for i in range(count):
    if rate:
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
    record_effect.delay(f"{prefix}-{i}", time.time(), work_s)
"""


def _procfile_worker() -> list[str]:
    line = next(row for row in (REPO / "Procfile").read_text().splitlines() if row.startswith("worker:"))
    args = line.split(":", 1)[1].split()
    return [sys.executable, "-m", "celery", *args[1:], "-I", "tests.broker.effects", "--loglevel", "WARNING"]


def _runs(path: Path, prefix: str) -> list[float]:
    with sqlite3.connect(path, timeout=30) as conn:
        return [row[0] for row in conn.execute("SELECT queue_wait_s FROM runs WHERE key LIKE ?", (f"{prefix}%",))]


def _phase(env: dict, prefix: str, publishers: int, count: int, rate: float, work_s: float) -> dict:
    started = time.monotonic()
    procs = [subprocess.Popen([sys.executable, "-c", PUBLISH, f"{prefix}{p}", str(count), str(rate), str(work_s)],
                              cwd=REPO, env=env) for p in range(publishers)]
    for proc in procs:
        proc.wait()
    published_s = time.monotonic() - started
    total = publishers * count
    path = Path(env["QUEUE_TEST_EFFECTS"])
    deadline = time.monotonic() + 120
    while len(waits := _runs(path, prefix)) < total and time.monotonic() < deadline:
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    waits.sort()
    return {"tasks": total, "done": len(waits), "publish_s": round(published_s, 2), "elapsed_s": round(elapsed, 2),
            "tasks_per_s": round(len(waits) / elapsed, 1),
            "queue_wait_p50_ms": round(statistics.median(waits) * 1000, 1),
            "queue_wait_p99_ms": round(waits[max(0, int(len(waits) * 0.99) - 1)] * 1000, 1),
            "queue_wait_max_ms": round(waits[-1] * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=60, help="steady tasks/s, all publishers together")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--burst", type=int, default=2000)
    parser.add_argument("--publishers", type=int, default=2)
    parser.add_argument("--work-ms", type=float, default=9.0)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="queue-bench-"))
    env = {**os.environ, "PYTHONPATH": str(REPO), "DJANGO_SETTINGS_MODULE": "broker.settings", "VAR_DIR": str(tmp),
           "CELERY_BROKER_URL": f"sqlite:///{tmp / 'celery-broker.sqlite3'}", "LOG_LEVEL": "WARNING",
           "QUEUE_TEST_EFFECTS": str(tmp / "effects.sqlite3")}
    worker = subprocess.Popen(_procfile_worker(), cwd=REPO, env=env, start_new_session=True,
                              stdout=(tmp / "worker.log").open("w"), stderr=subprocess.STDOUT)
    try:
        time.sleep(5)  # worker start-up; the first messages would simply wait for it
        per_publisher = int(args.rate * args.seconds / args.publishers)
        work_s = args.work_ms / 1000
        steady = _phase(env, "steady", args.publishers, per_publisher, args.rate / args.publishers, work_s)
        burst = _phase(env, "burst", args.publishers, args.burst // args.publishers, 0, work_s)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)
    print(json.dumps({"transport": "sqlite", "load_average_1m": round(os.getloadavg()[0], 1),
                      "cpus": os.cpu_count(), "worker": " ".join(_procfile_worker()[3:]), "task_work_ms": args.work_ms,
                      "steady": {"target_tasks_per_s": args.rate, **steady}, "burst": burst}, indent=2))


if __name__ == "__main__":
    main()
