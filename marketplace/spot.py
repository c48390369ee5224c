"""Spot first, on demand only when the request allows it (DESIGN §14): the order placements are tried in.

Pure, like the matching engine. A spot request with `spot_fallback` is matched twice under the same request
and policy: its spot placements first, then the same request's on-demand placements. Nothing else about the
request changes, so a fallback can never leave the policy.
"""

from __future__ import annotations

from dataclasses import replace

from marketplace.matching import Explanation, OfferIndex, Placement, PlacementRequest, match


def on_demand_request(request: PlacementRequest) -> PlacementRequest:
    """The same request, policy and price cap, for on-demand capacity."""
    return replace(request, spot=False, spot_fallback=False)


def spot_first(request: PlacementRequest, index: OfferIndex, *, limit: int) -> tuple[list[Placement], Explanation]:
    """Ranked spot placements, then (with `spot_fallback`) ranked on-demand ones; the spot match's explanation.

    Each list is ranked by the engine as usual; an offer sold both ways appears in both lists.
    """
    result = match(request, index, limit=limit)
    placements = list(result.placements)
    if request.spot and request.spot_fallback:
        placements += match(on_demand_request(request), index, limit=limit).placements
    return placements, result.explanation


def on_demand_price(placement: Placement) -> float | None:
    """What the placement's nodes cost per hour on demand: the reference spot savings are measured against."""
    price = placement.offer.price_per_hour
    return None if price is None else price * placement.nodes
