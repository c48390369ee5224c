"""Matching benchmark: index build time and match latency per catalogue size; optionally the HTTP API.

    .venv/bin/python -m benchmarks.matching                   # 1k, 10k, 100k, 1M offers in-process
    .venv/bin/python -m benchmarks.matching --sizes 100000 --api   # plus POST /api/v1/match on SQLite

Prints one JSON document. Latencies are wall-clock on whatever else the machine is running.
"""

import argparse
import gc
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.synthetic import synthetic_offers  # noqa: E402
from marketplace.matching import Near, OfferIndex, PlacementRequest, Policy, match  # noqa: E402

EU_SOVEREIGN = Policy(jurisdictions=frozenset({"EU"}), partner_hq_jurisdictions=frozenset({"EU"}),
                      certifications=frozenset({"ISO27001"}))
REQUESTS = {
    "single_gpu": PlacementRequest(gpu="L4", gpus_per_node=1),
    "node_8gpu": PlacementRequest(gpu="H100", gpus_per_node=8, interconnect="infiniband", max_price_per_gpu_hour=4.0),
    "gang_4_nodes": PlacementRequest(gpu="H100", gpus_per_node=8, nodes=4),
    "eu_sovereign": PlacementRequest(gpu="H100", gpus_per_node=8, policy=EU_SOVEREIGN, near=Near(50.1, 8.7)),
    "any_80gb_spot": PlacementRequest(min_gpu_memory_gb=80, gpus_per_node=8, spot=True),
    "no_result": PlacementRequest(gpu="B200", gpus_per_node=8, max_price_per_gpu_hour=0.5),
}
API_BODIES = {
    "single_gpu": {"gpu": "L4", "gpus_per_node": 1},
    "eu_sovereign": {"gpu": "H100", "gpus_per_node": 8, "near": {"lat": 50.1, "lon": 8.7},
                     "policy": {"jurisdictions": ["EU"], "partner_hq_jurisdictions": ["EU"],
                                "certifications": ["ISO27001"]}},
    "no_result": {"gpu": "B200", "gpus_per_node": 8, "max_price_per_gpu_hour": 0.5},
}


def percentiles(samples_ns: list[int]) -> dict:
    ordered = sorted(samples_ns)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6  # noqa: E731
    return {"p50_ms": round(pick(0.50), 4), "p99_ms": round(pick(0.99), 4),
            "mean_ms": round(statistics.fmean(ordered) / 1e6, 4), "n": len(ordered)}


def timed(call, rounds: int) -> list[int]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        call()
        samples.append(time.perf_counter_ns() - start)
    return samples


def bench_size(size: int, rounds: int) -> dict:
    offers = list(synthetic_offers(size))
    gc.collect()
    start = time.perf_counter()
    index = OfferIndex(offers)
    build_s = time.perf_counter() - start
    per_kind, everything = {}, []
    for name, request in REQUESTS.items():
        result = match(request, index)
        samples = timed(lambda request=request: match(request, index), rounds)
        everything += samples
        per_kind[name] = percentiles(samples) | {"matched": result.explanation.matched}
    return {"offers": size, "index_build_s": round(build_s, 3), "all": percentiles(everything), "requests": per_kind,
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}


def bench_api(size: int, rounds: int) -> dict:
    """Load `size` offers into a throw-away SQLite database, build the index from it, time POST /api/v1/match."""
    os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="broker-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "broker.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    from marketplace.selectors import offer_index
    from marketplace.selectors.catalog_version import bump_catalog_version
    from marketplace.services.api_keys import api_key_create, workspace_ensure

    call_command("migrate", verbosity=0)
    start = time.perf_counter()
    _load_offers(synthetic_offers(size))
    load_s = time.perf_counter() - start
    bump_catalog_version()
    start = time.perf_counter()
    offer_index.get_offer_index()
    db_build_s = time.perf_counter() - start
    workspace, user = workspace_ensure(name="bench", owner_email="bench@example.test")
    _, token = api_key_create(workspace=workspace, user=user)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    per_kind, everything = {}, []
    for name, body in API_BODIES.items():
        post = lambda body=body: client.post("/api/v1/match", body, content_type="application/json")  # noqa: E731
        assert post().status_code == 200
        samples = timed(post, rounds)
        everything += samples
        per_kind[name] = percentiles(samples)
    return {"offers": size, "db_load_s": round(load_s, 2), "index_build_from_db_s": round(db_build_s, 3),
            "all": percentiles(everything), "requests": per_kind, "database": "sqlite"}


def _load_offers(snapshots) -> None:
    from django.utils import timezone

    from marketplace.models import GpuModel, Offer, Partner, Region

    now, partners, regions, gpus, rows = timezone.now(), {}, {}, {}, []
    for s in snapshots:
        if s.partner not in partners:
            partners[s.partner] = Partner.objects.create(
                slug=s.partner, name=s.partner, status="active" if s.partner_active else "suspended",
                reliability=s.partner_reliability, hq_jurisdiction=s.partner_hq_jurisdiction,
                certifications=sorted(s.partner_certifications))
        if (s.partner, s.region) not in regions:
            regions[s.partner, s.region] = Region.objects.create(
                partner=partners[s.partner], code=s.region, country=s.country, jurisdiction=s.jurisdiction,
                latitude=s.latitude, longitude=s.longitude)
        if s.gpu not in gpus:
            gpus[s.gpu] = GpuModel.objects.get_or_create(
                name=s.gpu, defaults={"memory_gb": s.gpu_memory_gb, "architecture": s.architecture})[0]
        rows.append(Offer(
            partner=partners[s.partner], region=regions[s.partner, s.region], gpu=gpus[s.gpu],
            instance_type=s.instance_type, gpus_per_node=s.gpus_per_node, vcpus=s.vcpus, memory_gb=s.memory_gb,
            interconnect=s.interconnect, price_per_hour=s.price_per_hour, spot_price_per_hour=s.spot_price_per_hour,
            price_per_gpu_hour=s.price_per_gpu_hour, available_nodes=s.available_nodes, price_status=s.price_status,
            price_status_reason=s.price_status_reason, country=s.country, jurisdiction=s.jurisdiction,
            gpu_memory_gb=s.gpu_memory_gb, updated_at=now))
    Offer.objects.bulk_create(rows, batch_size=2000)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--rounds", type=int, default=500, help="timed calls per request kind")
    parser.add_argument("--api", action="store_true", help="also time POST /api/v1/match at the largest size ≤ 100k")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    report = {"benchmark": "matching", "python": sys.version.split()[0], "cpus": os.cpu_count(),
              "config": {"server": "none (in-process engine; --api: Django's test client, no HTTP — see "
                                   "benchmarks.web_api for HTTP)", "response_cache": "none",
                         "distinct_queries": False, "load_average_1m": round(os.getloadavg()[0], 2)},
              "in_process": [bench_size(size, args.rounds) for size in sizes]}
    if args.api:
        report["api"] = bench_api(max(s for s in sizes if s <= 100_000), args.rounds // 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
