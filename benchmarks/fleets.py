"""Fleets: what a workspace's own machines add to every match, and what keeping their offers live costs.

The private offers are read from the database on each request (so their capacity is always live): this measures
`placements_for` with a fleet of N machines (in a few shapes) against the same request with no fleet, and one
`fleet_offers_refresh` (run on every machine, work and rental change) per fleet size.

Run: .venv/bin/python -m benchmarks.fleets [--machines 10 100 1000] [--repeat 200]
Uses a throw-away SQLite database (or BENCH_DATABASE_URL). Prints JSON.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SHAPES = (("NVIDIA H100 80GB HBM3", 8, 80, "DE"), ("NVIDIA H100 80GB HBM3", 8, 80, "FR"),
          ("NVIDIA A100-SXM4-80GB", 4, 80, "DE"), ("NVIDIA L40S", 1, 48, "NL"))


def _setup(database_url: str | None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "broker.settings")
    os.environ["DATABASE_URL"] = database_url or f"sqlite:///{tempfile.mkdtemp()}/bench-fleets.sqlite3"
    os.environ.setdefault("DEV_SECRETS", "1")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def _fleet(name: str, machines: int):
    from fleets.services.fleets import Inventory, JoinRequest, fleet_create, fleet_join
    from fleets.services.machines import machine_heard
    from marketplace.services.api_keys import workspace_ensure

    name = f"{name}-{os.getpid()}"  # a database that holds an earlier run's fleets gets new ones
    workspace, _ = workspace_ensure(name=name, owner_email=f"{name}@bench.test")
    fleet, token = fleet_create(workspace=workspace, name=name, price_per_gpu_hour=Decimal("0.4"))
    for i in range(machines):
        gpu, count, memory, country = SHAPES[i % len(SHAPES)]
        machine, _ = fleet_join(JoinRequest(token=token, hostname=f"m{i}", country=country, region="", ip="",
                                            inventory=Inventory((gpu,) * count, memory, 64, 512.0)))
        machine_heard(machine, health="healthy", reason="", works=[])
    return workspace, fleet


def _timed(fn, repeat: int) -> dict:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {"p50_ms": round(statistics.median(samples), 3), "p95_ms": round(samples[int(len(samples) * 0.95)], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--machines", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    _setup(os.environ.get("BENCH_DATABASE_URL"))
    from fleets.services.offers import fleet_offers_refresh
    from marketplace.matching import PlacementRequest, Policy
    from marketplace.services.placing import placements_for

    request = PlacementRequest(gpu="H100", gpus_per_node=8, policy=Policy(jurisdictions=frozenset({"EU"})))
    no_fleet, _ = _fleet("no-fleet", 0)
    results = {"no_fleet": _timed(lambda: placements_for(request, no_fleet.pk, limit=10), args.repeat), "fleets": []}
    for size in args.machines:
        workspace, fleet = _fleet(f"fleet-{size}", size)
        answer = placements_for(request, workspace.pk, limit=10)
        results["fleets"].append({
            "machines": size, "offers": fleet.partner.offers.count(),
            "first_placement_is_fleet": answer.placements[0].offer.partner == fleet.partner.slug,
            "match": _timed(lambda ws=workspace: placements_for(request, ws.pk, limit=10), args.repeat),
            "offers_refresh": _timed(lambda f=fleet: fleet_offers_refresh(f), max(5, args.repeat // 20)),
        })
    json.dump(results, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
