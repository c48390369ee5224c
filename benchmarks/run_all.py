"""`make bench`: every benchmark in turn, uncached, each in its own process; one JSON file with all results.

    .venv/bin/python -m benchmarks.run_all [--output var/bench/bench.json] [--quick]

PostgreSQL benchmarks use BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/gpubroker_bench).
A benchmark that fails is recorded with its error and the run goes on.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.http_load import REPO, emit, machine


def plan(quick: bool) -> list[tuple[str, list[str]]]:
    requests = "600" if quick else "3000"
    return [
        ("matching", ["benchmarks.matching", "--sizes", "100000" if quick else "100000,1000000"]),
        ("offer_listing", ["benchmarks.offer_listing", "--sizes", "100000" if quick else "100000,1000000",
                           "--queries", "500" if quick else "2000"]),
        ("offers_api", ["benchmarks.offers_api", "--requests", requests]),
        ("profile_api", ["benchmarks.profile_api", "--requests", "100" if quick else "300"]),
        ("web_api", ["benchmarks.web_api", "--skip-load", "--requests", "500" if quick else "2000"]),
        ("gateway", ["benchmarks.gateway", "--requests", "500" if quick else "2000"]),
        ("fleets", ["benchmarks.fleets", "--machines", "10", "100", *([] if quick else ["1000"])]),
        *([] if quick else [("offers_api_1m", ["benchmarks.offers_api", "--offers", "1000000", "--requests", "1500"])]),
    ]


def run(name: str, module_args: list[str], workdir: Path) -> dict:
    output = workdir / f"{name}.json"
    accepts_output = name not in ("matching", "fleets")  # these print their JSON
    command = [sys.executable, "-m", *module_args, *(["--output", str(output)] if accepts_output else [])]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    seconds = round(time.perf_counter() - started, 1)
    if done.returncode != 0:
        return {"error": f"exit {done.returncode}", "stderr_tail": done.stderr[-2000:], "seconds": seconds}
    text = output.read_text() if accepts_output else done.stdout[done.stdout.index("{"):]
    return {**json.loads(text), "seconds": seconds}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="var/bench/bench.json")
    parser.add_argument("--quick", action="store_true", help="fewer requests and no 1M-offer runs")
    parser.add_argument("--only", help="comma-separated benchmark names")
    args = parser.parse_args(argv)
    wanted = set(args.only.split(",")) if args.only else None
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, module_args in plan(args.quick):
            if wanted is None or name in wanted:
                print(f"bench: {name} …", file=sys.stderr, flush=True)
                results[name] = run(name, module_args, Path(tmp))
    emit({"started_by": "make bench", "machine": machine(), "results": results}, args.output)


if __name__ == "__main__":
    main()
