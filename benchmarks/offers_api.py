"""Offers API under load: 100k synthetic offers on PostgreSQL, gunicorn with 2 workers, a concurrent client.

Run: .venv/bin/python -m benchmarks.offers_api [--offers 100000] [--requests 3000] [--concurrency 8]
Needs PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/gpubroker_bench). Prints JSON.
"""

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
QUERIES = [
    "gpu=H100&ordering=price_per_gpu_hour",
    "gpu=H100&jurisdiction=EU&max_price_per_gpu_hour=3.5",
    "jurisdiction=EU&ordering=price_per_gpu_hour",
    "gpu=A100-80GB&min_gpus=8&interconnect=infiniband",
    "max_price_per_gpu_hour=1.5&ordering=price_per_gpu_hour",
    "gpu=L4&country=DE",
    "gpu=B200&spot=true",
    "architecture=hopper&min_gpu_memory_gb=80&ordering=-price_per_hour",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare(database_url: str, offers: int) -> float:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "broker.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from benchmarks.catalog_db import load_synthetic_catalog

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    load_synthetic_catalog(offers)
    from django.db import connection

    connection.ensure_connection()
    connection.connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # what autovacuum does to a settled catalogue
    connection.close()
    return time.perf_counter() - started


def _ensure_database(url: str) -> None:
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def run_load(base_url: str, total: int, concurrency: int) -> tuple[list[float], float, int]:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = iter(range(total))

    def worker(seed: int) -> None:
        nonlocal errors
        rng, session = random.Random(seed), requests.Session()
        while True:
            with lock:
                if next(counter, None) is None:
                    return
            url = f"{base_url}/api/v1/offers?{rng.choice(QUERIES)}"
            started = time.perf_counter()
            response = session.get(url, timeout=10)
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                errors += response.status_code != 200

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, time.perf_counter() - started, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--offers", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--skip-load", action="store_true", help="reuse the catalogue already in the database")
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gpubroker_bench")
    _ensure_database(url)
    load_s = 0.0 if args.skip_load else prepare(url, args.offers)
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": url, "DEBUG": "false", "LOG_LEVEL": "WARNING"}
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "broker.wsgi:application", "--workers", "2",
                               "--worker-class", "gthread", "--threads", "4",
                               "--bind", f"127.0.0.1:{port}", "--log-level", "warning"], cwd=REPO, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.get(f"{base}/api/v1/gpus", timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.2)
        run_load(base, 200, args.concurrency)  # warm-up: connections, caches, query plans
        latencies, elapsed, errors = run_load(base, args.requests, args.concurrency)
    finally:
        server.terminate()
        server.wait(10)
    latencies.sort()
    print(json.dumps({
        "offers": args.offers, "requests": len(latencies), "concurrency": args.concurrency, "errors": errors,
        "load_catalogue_s": round(load_s, 1), "requests_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 2),
        "max_ms": round(latencies[-1], 2), "server": "gunicorn, 2 workers × 4 threads (gthread)", "database": "postgresql",
    }, indent=2))


if __name__ == "__main__":
    main()
