"""Offer listing in-process: build time, memory and per-query latency of the in-memory offer list at each size.

Every query is distinct (benchmarks.offers_api's generator: random filters, ordering, page size and page),
nothing is cached. Memory is the listing's numpy columns plus the process's peak RSS (snapshots included).

Run: .venv/bin/python -m benchmarks.offer_listing [--sizes 100000,1000000] [--queries 2000]
"""

import argparse
import gc
import resource
import statistics
import time
from decimal import Decimal
from urllib.parse import parse_qsl

from benchmarks.http_load import emit, machine, percentiles
from benchmarks.offers_api import distinct_queries
from benchmarks.synthetic import synthetic_offers
from marketplace.offer_listing import ListedFields, OfferListing, OfferQuery


def _fields(offer) -> ListedFields:
    per_gpu = None if offer.price_per_hour is None else (
        Decimal(str(offer.price_per_hour)) / offer.gpus_per_node).quantize(Decimal("0.0001"))
    return ListedFields(country=offer.country, jurisdiction=offer.jurisdiction, gpu_memory_gb=offer.gpu_memory_gb,
                        form_factor="",
                        price_per_gpu_hour=per_gpu, price_status=offer.price_status,
                        price_status_reason=offer.price_status_reason)


def _query(query_string: str) -> tuple[OfferQuery, int, int]:
    params = dict(parse_qsl(query_string))
    size, page = int(params.pop("page_size")), int(params.pop("page"))
    ordering = tuple(filter(None, params.pop("ordering", "").split(",")))
    cap = params.pop("max_price_per_gpu_hour", None)
    spot = params.pop("spot", "") == "true"
    numbers = {name: int(params.pop(name)) for name in ("min_gpus", "min_gpu_memory_gb") if name in params}
    query = OfferQuery(**params, **numbers, spot=spot, ordering=ordering,
                       max_price_per_gpu_hour=None if cap is None else Decimal(cap))
    return query, (page - 1) * size, size


def bench_size(size: int, queries: int) -> dict:
    offers = [(offer, _fields(offer)) for offer in synthetic_offers(size)]
    gc.collect()
    started = time.perf_counter()
    listing = OfferListing(offers)
    build_s = time.perf_counter() - started
    del offers
    generator = distinct_queries(seed=3)
    samples, counts = [], []
    for _ in range(queries):
        query, offset, limit = _query(next(generator))
        started = time.perf_counter()
        selection = listing.select(query)
        rows = selection.rows(offset, limit)
        [listing.row(i) for i in rows]
        samples.append((time.perf_counter() - started) * 1000)
        counts.append(selection.count)
    return {"offers": size, "listed": len(listing), "build_s": round(build_s, 2),
            "columns_mb": round(listing.nbytes() / 2**20, 1),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
            "median_matches": statistics.median(counts), **percentiles(samples)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--output", help="also write the JSON here")
    args = parser.parse_args(argv)
    emit({"benchmark": "offer_listing",
          "config": {"server": "none (in-process)", "response_cache": "none", "distinct_queries": True},
          "sizes": [bench_size(int(size), args.queries) for size in args.sizes.split(",")],
          "machine": machine()}, args.output)


if __name__ == "__main__":
    main()
