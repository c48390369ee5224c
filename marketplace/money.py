"""Prices as Decimals at the precision the database keeps (`PRICE_DIGITS`: six places)."""

from decimal import ROUND_HALF_EVEN, Decimal

PRICE_PLACES = 6
PRICE_QUANTUM = Decimal(1).scaleb(-PRICE_PLACES)


def price_decimal(value: float | Decimal | None) -> Decimal | None:
    """A partner's price as a Decimal: `27.44705` stays `27.44705` (floats go through their shortest repr)."""
    if value is None:
        return None
    return Decimal(str(value)).quantize(PRICE_QUANTUM, rounding=ROUND_HALF_EVEN)


def per_gpu(price: Decimal | None, gpus: int) -> Decimal | None:
    """Node price / GPUs, at the stored precision."""
    return None if price is None else (price / gpus).quantize(PRICE_QUANTUM, rounding=ROUND_HALF_EVEN)


def format_price(value: Decimal | float | None, min_places: int = 2) -> str:
    """`3.5` → `3.50`, `27.44705` → `27.44705`: the partner's own precision, never fewer than `min_places`."""
    if value is None:
        return ""
    exact = price_decimal(value).normalize()
    places = max(min_places, -exact.as_tuple().exponent)
    return f"{exact:,.{places}f}"
