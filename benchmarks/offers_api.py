"""Offers API under load: synthetic offers on PostgreSQL, the production web server, every query distinct.

Each request is a new random combination of filters, ordering, page size and page (never repeated), the way a
user typing in the filter form produces them; nothing is cached between requests.

Run: .venv/bin/python -m benchmarks.offers_api [--offers 100000] [--requests 3000] [--concurrency 8]
     [--server gunicorn-gthread|uvicorn] [--workers 2] [--skip-load] [--output var/bench/offers.json]
Needs PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/gpubroker_bench). Prints JSON.
"""

import argparse
import os
import random
import time
from collections.abc import Iterator
from urllib.parse import urlencode

from benchmarks.http_load import SERVERS, Request, drive, emit, machine, start_server
from benchmarks.synthetic import GPU_MIX, PLACES, partner_profiles

DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/gpubroker_bench"
ORDERINGS = ["", "price_per_gpu_hour", "-price_per_gpu_hour", "price_per_hour", "-price_per_hour",
             "gpu_memory_gb", "-gpu_memory_gb"]


def active_partners(seed: int = 7, count: int = 25) -> list[str]:
    """The synthetic catalogue's active partners (the same draw synthetic_offers makes first)."""
    return [p["partner"] for p in partner_profiles(count, random.Random(seed)) if p["partner_active"]]


def distinct_queries(seed: int) -> Iterator[str]:
    """Random filter combinations, orderings, page sizes and pages; each query string at most once."""
    rng, seen = random.Random(seed), set()
    partners = active_partners()
    choices = {
        "gpu": lambda: rng.choice(list(GPU_MIX)),
        "min_gpus": lambda: rng.choice([1, 2, 4, 8]),
        "min_gpu_memory_gb": lambda: rng.choice([16, 24, 40, 48, 80, 141]),
        "architecture": lambda: rng.choice(["hopper", "ampere", "ada", "blackwell", "volta"]),
        "partner": lambda: rng.choice(partners),
        "region": lambda: rng.choice(PLACES)[0],
        "country": lambda: rng.choice([p[1] for p in PLACES if p[1]]),
        "jurisdiction": lambda: rng.choice(["EU", "US", "UK", "IN", "JP", "CA"]),
        "spot": lambda: "true",
        "max_price_per_gpu_hour": lambda: f"{rng.uniform(0.3, 8):.2f}",
        "interconnect": lambda: rng.choice(["pcie", "nvlink", "infiniband"]),
    }
    while True:
        params = {name: make() for name, make in rng.sample(sorted(choices.items()), rng.randint(0, 4))}
        ordering = rng.choice(ORDERINGS)
        if ordering:
            params["ordering"] = ordering
        params["page_size"] = rng.choice([20, 50, 100])
        params["page"] = rng.choice([1, 1, 1, 2, 2, 3, 5, 10])
        query = urlencode(params)
        if query not in seen:
            seen.add(query)
            yield query


def prepare(database_url: str, offers: int) -> float:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "broker.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from benchmarks.catalog_db import load_synthetic_catalog

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    load_synthetic_catalog(offers)
    connection.ensure_connection()
    connection.connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # what autovacuum does to a settled catalogue
    connection.close()
    return time.perf_counter() - started


def ensure_database(url: str) -> None:
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def run(*, offers: int, requests: int, concurrency: int, server: str, workers: int, threads: int,
        skip_load: bool, database_url: str, cpus: str | None = None) -> dict:
    ensure_database(database_url)
    load_s = 0.0 if skip_load else prepare(database_url, offers)
    env = {"DATABASE_URL": database_url, "DEBUG": "false", "LOG_LEVEL": "WARNING"}
    index_started = time.perf_counter()
    web = start_server(server, env, workers=workers, threads=threads, cpus=cpus)
    index_build_s = time.perf_counter() - index_started
    try:
        rss_with_index = web.worker_rss_mb()  # start_server waited for every worker to build its index
        started = time.perf_counter()
        queries = distinct_queries(seed=2)
        # Warm-up: every worker opens its connections (queries never repeat after it).
        drive(web.port, lambda: _get(next(queries)), total=50 * workers, concurrency=2 * workers,
              ok_statuses=frozenset({200, 404}))
        warm_s = time.perf_counter() - started
        cpu_before = web.cpu_s()
        result = drive(web.port, lambda: _get(next(queries)), total=requests, concurrency=concurrency,
                       ok_statuses=frozenset({200, 404}))
        result["server_cpu_ms_per_request"] = round((web.cpu_s() - cpu_before) * 1000 / requests, 3)
        web_rss_after = web.worker_rss_mb()  # grows by the offers rendered (fragments kept per version)
    finally:
        web.stop()
    return {
        "benchmark": "offers_api", "offers": offers,
        "config": {"server": SERVERS[server], "server_kind": server, "workers": workers, "threads": threads,
                   "database": "postgresql", "response_cache": "none", "distinct_queries": True,
                   "keep_alive": True, "cpus": cpus or "unpinned"},
        "load_catalogue_s": round(load_s, 1), "server_start_and_index_build_s": round(index_build_s, 1),
        "warm_up_s": round(warm_s, 1),
        "worker_rss_mb": {"with_index": rss_with_index, "after_run": web_rss_after},
        **result, "machine": machine(),
    }


def _get(query: str) -> Request:
    return "GET", f"/api/v1/offers?{query}", None, {}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offers", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--server", choices=sorted(SERVERS), default="gunicorn-gthread")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--skip-load", action="store_true", help="reuse the catalogue already in the database")
    parser.add_argument("--output", help="also write the JSON here")
    args = parser.parse_args(argv)
    emit(run(offers=args.offers, requests=args.requests, concurrency=args.concurrency, server=args.server,
             workers=args.workers, threads=args.threads, skip_load=args.skip_load,
             database_url=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE)), args.output)


if __name__ == "__main__":
    main()
