"""Server time of the offers page and its htmx partial over a synthetic 100k-offer catalogue.

Run: .venv/bin/python tests/dashboard/bench_offers_page.py [--offers 100000] [--db /tmp/offers-bench.sqlite3]
Builds a throwaway SQLite file database (reused when it already holds the catalogue).
"""

import argparse
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def build_catalogue(count: int) -> None:
    from marketplace.catalog.gpus import CANONICAL_GPUS
    from marketplace.models import GpuModel, Offer, Partner, PartnerStatus, Region

    rng = random.Random(7)
    gpus = [GpuModel.objects.create(name=s.name, memory_gb=s.memory_gb, architecture=s.architecture)
            for s in CANONICAL_GPUS.values()]
    places = [("DE", "EU"), ("FR", "EU"), ("NL", "EU"), ("US", "US"), ("GB", "UK"), ("JP", "JP"), ("CH", "CH")]
    regions = []
    for p in range(40):
        partner = Partner.objects.create(slug=f"partner-{p}", name=f"Partner {p}",
                                         status=PartnerStatus.SUSPENDED if p % 10 == 9 else PartnerStatus.ACTIVE)
        for r in range(10):
            country, jurisdiction = places[(p + r) % len(places)]
            regions.append(Region.objects.create(partner=partner, code=f"{country.lower()}-{r}", country=country,
                                                 jurisdiction=jurisdiction))
    now = datetime.now(UTC)
    batch = []
    for i in range(count):
        region, gpu = regions[i % len(regions)], rng.choice(gpus)
        n = rng.choice((1, 2, 4, 8))
        price = Decimal(rng.uniform(0.3, 6.0) * n).quantize(Decimal("0.0001"))
        batch.append(Offer(partner_id=region.partner_id, region=region, gpu=gpu, instance_type=f"shape-{i}",
                           gpus_per_node=n, vcpus=8 * n, memory_gb=64 * n,
                           interconnect=rng.choice(("pcie", "nvlink", "infiniband")), price_per_hour=price,
                           spot_price_per_hour=price / 2 if i % 3 == 0 else None,
                           price_per_gpu_hour=(price / n).quantize(Decimal("0.0001")),
                           available_nodes=rng.choice((None, 0, 2, 10)), country=region.country,
                           jurisdiction=region.jurisdiction, gpu_memory_gb=gpu.memory_gb, updated_at=now))
        if len(batch) == 5000:
            Offer.objects.bulk_create(batch)
            batch = []
    Offer.objects.bulk_create(batch)


def measure(client, url: str, *, htmx: bool, runs: int) -> tuple[float, float, int]:
    headers = {"HX-Request": "true"} if htmx else {}
    client.get(url, headers=headers)  # warm the page cache
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(url, headers=headers)
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings), max(timings), response.status_code


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--offers", type=int, default=100_000)
    parser.add_argument("--db", default="/tmp/offers-bench.sqlite3")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = f"sqlite:///{args.db}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "broker.settings")
    os.environ["ALLOWED_HOSTS"] = "testserver"
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test import Client

    from marketplace.models import Membership, Offer, Role, Workspace

    call_command("migrate", verbosity=0)
    if Offer.objects.count() != args.offers:
        Offer.objects.all().delete()
        started = time.perf_counter()
        build_catalogue(args.offers)
        print(f"built {args.offers} offers in {time.perf_counter() - started:.1f}s")
    user, _ = User.objects.get_or_create(username="bench@example.test")
    workspace, _ = Workspace.objects.get_or_create(name="bench")
    Membership.objects.get_or_create(user=user, workspace=workspace, defaults={"role": Role.VIEWER})
    client = Client()
    client.force_login(user)
    cases = [
        ("full page, no filter", "/offers/", False),
        ("partial, no filter", "/offers/", True),
        ("partial, H100 in EU under $3.50", "/offers/?gpu=H100&jurisdiction=EU&max_price_per_gpu_hour=3.5", True),
        ("partial, 8+ GPUs infiniband spot", "/offers/?min_gpus=8&interconnect=infiniband&spot=true", True),
        ("partial, by GPU memory desc", "/offers/?ordering=-gpu_memory_gb", True),
        ("partial, page 500", "/offers/?page=500", True),
        ("full page, H100 DE", "/offers/?gpu=H100&country=DE", False),
        ("compare H100", "/offers/compare/?gpu=H100", False),
    ]
    print(f"{'case':40} {'median ms':>10} {'max ms':>8} status")
    for name, url, htmx in cases:
        median_ms, max_ms, status = measure(client, url, htmx=htmx, runs=args.runs)
        print(f"{name:40} {median_ms:10.1f} {max_ms:8.1f} {status}")


if __name__ == "__main__":
    main()
