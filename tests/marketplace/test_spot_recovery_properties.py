"""Recovery placements never leave the request or its policy (random policies and catalogues).

A recovery (a deployment's replacement replica, a job's restart) is placed by the same engine from the same
stored request: `spot_first` over `PlacementRequest.from_dict(request.to_dict())`. Its spot placements come
first, and on-demand ones only with `spot_fallback`; every one satisfies every rule of the request, the
price cap and the policy included (the brute-force oracle of the matching tests decides).
"""

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from marketplace.matching import OfferIndex, PlacementRequest
from marketplace.spot import on_demand_request, spot_first
from tests.marketplace.test_matching_properties import catalogues, common, failed_rule, requests, unique_ids


@common
@given(catalogues(), requests, st.booleans(), st.sampled_from([1, 3, 25]))
def test_no_recovery_lands_outside_the_request_or_its_policy(offers, request, fallback, limit):
    offers = list(unique_ids(offers))
    original = replace(request, spot=True, spot_fallback=fallback)
    stored = PlacementRequest.from_dict(original.to_dict())  # what a rental or deployment keeps and re-reads
    assert stored == original
    placements, _ = spot_first(stored, OfferIndex(offers), limit=limit)
    spot = [p for p in placements if p.spot]
    on_demand = [p for p in placements if not p.spot]
    assert placements == spot + on_demand  # spot first
    assert fallback or not on_demand  # on demand only when the request allows it
    for placement in spot:
        assert failed_rule(placement.offer, stored) is None
        assert placement.price_per_hour == placement.offer.spot_price_per_hour * stored.nodes
    for placement in on_demand:
        assert failed_rule(placement.offer, on_demand_request(stored)) is None  # the same policy and price cap
        assert placement.price_per_hour == placement.offer.price_per_hour * stored.nodes  # billed on demand


@common
@given(catalogues(), requests)
def test_an_on_demand_request_is_never_placed_on_spot(offers, request):
    on_demand = replace(request, spot=False, spot_fallback=False)
    placements, _ = spot_first(on_demand, OfferIndex(list(unique_ids(offers))), limit=10)
    assert not any(p.spot for p in placements)
