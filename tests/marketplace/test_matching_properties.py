"""The engine against a brute-force oracle over random catalogues and requests."""

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketplace.matching import (
    INTERCONNECT_RANK,
    RULES,
    Near,
    OfferIndex,
    OfferSnapshot,
    PlacementRequest,
    Policy,
    great_circle_km,
    match,
)

GPUS = {"H100": (80, "hopper"), "H200": (141, "hopper"), "L4": (24, "ada"), "A100": (40, "ampere")}
PARTNERS = ["a", "b", "c", "d"]
CERTS = ["ISO27001", "SOC2", "C5"]
PLACES = [("eu-central-1", "DE", "EU", 50.1, 8.7), ("eu-west-3", "FR", "EU", 48.9, 2.4),
          ("us-east-1", "US", "US", 38.9, -77.4), ("default", "", "", None, None), ("lon1", "GB", "UK", None, None)]
PRICES = [None, 0.0, 1.0, 2.0, 2.5, 4.0, 8.0, 16.0]
JURISDICTIONS = ["EU", "US", "UK"]

partner_profiles = st.fixed_dictionaries({
    "partner_active": st.booleans(),
    "partner_reliability": st.sampled_from([0.5, 0.9, 1.0]),
    "partner_hq_jurisdiction": st.sampled_from(JURISDICTIONS + [""]),
    "partner_certifications": st.frozensets(st.sampled_from(CERTS)),
})


@st.composite
def catalogues(draw, gpus=tuple(sorted(GPUS)), max_size=40) -> list[OfferSnapshot]:
    profiles = {slug: draw(partner_profiles) for slug in PARTNERS}
    offers = []
    for offer_id in range(draw(st.integers(0, max_size))):
        gpu = draw(st.sampled_from(gpus))
        partner = draw(st.sampled_from(PARTNERS))
        region, country, jurisdiction, lat, lon = draw(st.sampled_from(PLACES))
        offers.append(OfferSnapshot(
            id=draw(st.integers(0, 10_000)) * 100 + offer_id, partner=partner, gpu=gpu,
            gpu_memory_gb=GPUS[gpu][0], architecture=GPUS[gpu][1],
            gpus_per_node=draw(st.sampled_from([1, 2, 8])), price_per_hour=draw(st.sampled_from(PRICES)),
            spot_price_per_hour=draw(st.sampled_from(PRICES)), region=region, country=country,
            jurisdiction=jurisdiction, latitude=lat, longitude=lon,
            interconnect=draw(st.sampled_from(sorted(INTERCONNECT_RANK))),
            available_nodes=draw(st.one_of(st.none(), st.integers(0, 4))),
            price_status=draw(st.sampled_from(["ok", "ok", "ok", "suspect", "stale"])), **profiles[partner]))
    return offers


def subsets(values):
    return st.frozensets(st.sampled_from(values), max_size=2)


policies = st.builds(
    Policy, regions=subsets([p[0] for p in PLACES]), countries=subsets(["DE", "FR", "US", "GB"]),
    jurisdictions=subsets(JURISDICTIONS), partners_allow=subsets(PARTNERS), partners_deny=subsets(PARTNERS),
    partner_hq_jurisdictions=subsets(JURISDICTIONS), certifications=subsets(CERTS))

requests = st.builds(
    PlacementRequest,
    gpu=st.one_of(st.none(), st.sampled_from(sorted(GPUS) + ["B200"])),
    min_gpu_memory_gb=st.one_of(st.none(), st.sampled_from([24, 40, 80, 100])),
    architecture=st.one_of(st.none(), st.sampled_from(["hopper", "ada", "ampere"])),
    gpus_per_node=st.sampled_from([1, 2, 8]), nodes=st.integers(1, 3),
    interconnect=st.one_of(st.none(), st.sampled_from(sorted(INTERCONNECT_RANK))),
    spot=st.booleans(), max_price_per_gpu_hour=st.one_of(st.none(), st.sampled_from([0.0, 0.5, 1.0, 2.0, 8.0])),
    policy=st.one_of(st.just(Policy()), policies),
    near=st.one_of(st.none(), st.builds(Near, st.floats(-90, 90), st.floats(-180, 180))),
    allow_suspect_prices=st.booleans(),
)


def price_paid(o: OfferSnapshot, r: PlacementRequest) -> float | None:
    return o.spot_price_per_hour if r.spot else o.price_per_hour


def failed_rule(o: OfferSnapshot, r: PlacementRequest) -> str | None:
    """The first rule, in RULES order, that the offer breaks; None if it satisfies the request."""
    p, price = r.policy, price_paid(o, r)
    located = o.country != ""
    checks = {
        "gpu": lambda: (r.gpu is None or o.gpu == r.gpu)
        and (r.min_gpu_memory_gb is None or o.gpu_memory_gb >= r.min_gpu_memory_gb)
        and (r.architecture is None or o.architecture == r.architecture),
        "gpus_per_node": lambda: o.gpus_per_node == r.gpus_per_node,
        "spot": lambda: not r.spot or o.spot_price_per_hour is not None,
        "no_price": lambda: r.spot or o.price_per_hour is not None,
        "max_price": lambda: r.max_price_per_gpu_hour is None
        or price / o.gpus_per_node <= r.max_price_per_gpu_hour,
        "partner_active": lambda: o.partner_active,
        "price_integrity": lambda: r.allow_suspect_prices or o.price_status == "ok",
        "interconnect": lambda: r.interconnect is None
        or INTERCONNECT_RANK[o.interconnect] >= INTERCONNECT_RANK[r.interconnect],
        "partners": lambda: (not p.partners_allow or o.partner in p.partners_allow)
        and o.partner not in p.partners_deny,
        "partner_hq_jurisdictions": lambda: not p.partner_hq_jurisdictions
        or o.partner_hq_jurisdiction in p.partner_hq_jurisdictions,
        "certifications": lambda: p.certifications <= o.partner_certifications,
        "regions": lambda: not p.regions or (located and o.region in p.regions),
        "countries": lambda: not p.countries or o.country in p.countries,
        "jurisdictions": lambda: not p.jurisdictions or o.jurisdiction in p.jurisdictions,
        "capacity": lambda: o.available_nodes is None or o.available_nodes >= r.nodes,
    }
    for rule in RULES:  # in order and lazily: a later check may rely on an earlier one (a price exists)
        if not checks[rule]():
            return rule
    return None


def rank_key(o: OfferSnapshot, r: PlacementRequest):
    distance = math.inf
    if r.near is not None and o.latitude is not None:
        distance = great_circle_km(r.near.lat, r.near.lon, o.latitude, o.longitude)
    return (price_paid(o, r) * r.nodes, o.available_nodes is None, -o.partner_reliability, distance, o.id)


def oracle(offers, r):
    failures = [failed_rule(o, r) for o in offers]
    feasible = sorted((o for o, rule in zip(offers, failures, strict=True) if rule is None),
                      key=lambda o: rank_key(o, r))
    counts = {rule: failures.count(rule) for rule in RULES}
    return feasible, counts


def unique_ids(offers):
    return {o.id: o for o in offers}.values()


common = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@common
@given(catalogues(), requests, st.sampled_from([1, 3, 10, None]))
def test_engine_agrees_with_brute_force_oracle(offers, request, limit):
    offers = list(unique_ids(offers))
    result = match(request, OfferIndex(offers), limit=limit)
    feasible, counts = oracle(offers, request)
    expected = feasible if limit is None else feasible[:limit]
    assert [p.offer.id for p in result.placements] == [o.id for o in expected]
    assert dict(result.explanation.excluded) == counts
    assert result.explanation.matched == len(feasible)


@common
@given(catalogues(), requests)
def test_no_placement_breaks_a_rule_and_counts_add_up(offers, request):
    offers = list(unique_ids(offers))
    result = match(request, OfferIndex(offers), limit=None)
    explanation = result.explanation
    assert explanation.considered == len(offers) == sum(explanation.excluded.values()) + explanation.matched
    for placement in result.placements:
        assert failed_rule(placement.offer, request) is None
        assert placement.price_per_hour == price_paid(placement.offer, request) * request.nodes
        assert placement.spot == request.spot and placement.nodes == request.nodes
    totals = [p.price_per_hour for p in result.placements]
    assert totals == sorted(totals)
    assert (result.placements == ()) == (not oracle(offers, request)[0])


@common
@given(catalogues(gpus=("H100",), max_size=60), st.sampled_from([1, 2, 3]), st.booleans(), st.sampled_from([1, 2]))
def test_ties_on_price_are_ranked_like_the_oracle_when_results_are_cut(offers, limit, spot, nodes):
    offers = list(unique_ids(offers))
    request = PlacementRequest(gpu="H100", gpus_per_node=1, nodes=nodes, spot=spot, allow_suspect_prices=True,
                               near=Near(50.0, 8.0))
    result = match(request, OfferIndex(offers), limit=limit)
    assert [p.offer.id for p in result.placements] == [o.id for o in oracle(offers, request)[0][:limit]]
