"""Price integrity: flag zero, missing and implausibly low prices against each GPU model's market.

Pure functions (no ORM, no clock): the import, partner sync and the offer index all call them.
"""

from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from statistics import median

OK, SUSPECT, STALE = "ok", "suspect", "stale"
MIN_MARKET_SAMPLES = 3


@dataclass(frozen=True)
class PricePoint:
    key: Hashable
    gpu: str
    gpus_per_node: int
    price_per_hour: float | None
    spot_price_per_hour: float | None = None
    age_s: float | None = None  # seconds since the partner last confirmed the price


def market_medians(points: Iterable[PricePoint]) -> dict[str, float]:
    """Median on-demand price per GPU-hour of each GPU model, over offers with a positive price."""
    per_gpu: dict[str, list[float]] = defaultdict(list)
    for point in points:
        if point.price_per_hour and point.price_per_hour > 0:
            per_gpu[point.gpu].append(point.price_per_hour / point.gpus_per_node)
    return {gpu: median(prices) for gpu, prices in per_gpu.items() if len(prices) >= MIN_MARKET_SAMPLES}


def assess_price(point: PricePoint, medians: dict[str, float], *, suspect_fraction: float = 0.25,
                 stale_after_s: float | None = None) -> tuple[str, str]:
    """Return (status, reason) for one offer; reason is empty when the price is ok. An offer sold as spot only
    (a spot price and no on-demand price, as a spot-bid partner lists them) is judged by its spot price."""
    spot_only = point.price_per_hour is None and point.spot_price_per_hour is not None
    if point.price_per_hour is None and not spot_only:
        return SUSPECT, "no on-demand price"
    if spot_only and point.spot_price_per_hour <= 0:
        return SUSPECT, "spot price is zero"
    if not spot_only and point.price_per_hour <= 0:
        return SUSPECT, "on-demand price is zero"
    market = medians.get(point.gpu)
    per_gpu = None if spot_only else point.price_per_hour / point.gpus_per_node
    if market and per_gpu is not None and per_gpu < suspect_fraction * market:
        return SUSPECT, (f"${per_gpu:.2f}/GPU-h is under {suspect_fraction:.0%} of the {point.gpu} "
                         f"market median ${market:.2f}/GPU-h")
    if point.spot_price_per_hour is not None and market:
        spot_per_gpu = point.spot_price_per_hour / point.gpus_per_node
        if spot_per_gpu < suspect_fraction * market * 0.5:
            return SUSPECT, (f"spot ${spot_per_gpu:.2f}/GPU-h is implausibly low against the {point.gpu} "
                             f"market median ${market:.2f}/GPU-h")
    if stale_after_s and point.age_s is not None and point.age_s > stale_after_s:
        return STALE, f"price not refreshed for {int(point.age_s)} s (limit {int(stale_after_s)} s)"
    return OK, ""


def assess_prices(points: Iterable[PricePoint], *, suspect_fraction: float = 0.25,
                  stale_after_s: float | None = None) -> dict[Hashable, tuple[str, str]]:
    points = list(points)
    medians = market_medians(points)
    return {p.key: assess_price(p, medians, suspect_fraction=suspect_fraction, stale_after_s=stale_after_s)
            for p in points}
