"""Hand-written cases for the pure matching engine."""

import ast
import inspect

import pytest

import marketplace.matching as matching
from marketplace.matching import (
    RULES,
    Near,
    OfferIndex,
    OfferSnapshot,
    PlacementRequest,
    Policy,
    great_circle_km,
    match,
)

ALLOWED_IMPORTS = {"__future__", "heapq", "math", "bisect", "collections.abc", "dataclasses", "datetime", "operator"}


def offer(id, **fields) -> OfferSnapshot:
    defaults = dict(partner="acme", gpu="H100", gpus_per_node=8, price_per_hour=16.0, gpu_memory_gb=80,
                    architecture="hopper", region="eu-central-1", country="DE", jurisdiction="EU",
                    partner_hq_jurisdiction="EU", interconnect="infiniband", available_nodes=4)
    return OfferSnapshot(id=id, **(defaults | fields))


def ids(result) -> list[int]:
    return [p.offer.id for p in result.placements]


def run(offers, limit=10, **request) -> matching.MatchResult:
    request.setdefault("gpu", "H100")
    request.setdefault("gpus_per_node", 8)
    return match(PlacementRequest(**request), OfferIndex(offers), limit=limit)


def test_engine_module_imports_no_django_clock_or_io():
    tree = ast.parse(inspect.getsource(matching))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module)
    assert imported <= ALLOWED_IMPORTS, imported - ALLOWED_IMPORTS
    clock_calls = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)} & {"now", "utcnow", "today"}
    assert not clock_calls


def test_cheapest_total_price_ranks_first():
    result = run([offer(1, price_per_hour=20.0), offer(2, price_per_hour=12.0), offer(3, price_per_hour=16.0)])
    assert ids(result) == [2, 3, 1]
    assert result.placements[0].price_per_gpu_hour == 1.5


def test_gang_request_prices_all_nodes_and_needs_capacity_for_all():
    offers = [offer(1, price_per_hour=10.0, available_nodes=2), offer(2, price_per_hour=12.0, available_nodes=4)]
    result = run(offers, nodes=4)
    assert ids(result) == [2]
    placement = result.placements[0]
    assert (placement.nodes, placement.price_per_node_hour, placement.price_per_hour) == (4, 12.0, 48.0)
    assert result.explanation.excluded["capacity"] == 1


def test_unknown_capacity_is_allowed_but_ranks_after_known_capacity_at_same_price():
    offers = [offer(1, available_nodes=None), offer(2, available_nodes=1), offer(3, available_nodes=None,
                                                                                price_per_hour=15.0)]
    assert ids(run(offers)) == [3, 2, 1]


def test_ties_break_by_reliability_then_distance_then_id():
    frankfurt, paris = (50.1, 8.7), (48.9, 2.4)
    offers = [
        offer(5, partner_reliability=0.9, latitude=frankfurt[0], longitude=frankfurt[1]),
        offer(4, partner_reliability=0.99, latitude=paris[0], longitude=paris[1]),
        offer(3, partner_reliability=0.99, latitude=frankfurt[0], longitude=frankfurt[1]),
        offer(2, partner_reliability=0.99),
        offer(1, partner_reliability=0.99),
    ]
    result = run(offers, near=Near(50.0, 8.6))
    assert ids(result) == [3, 4, 1, 2, 5]
    assert result.placements[0].distance_km == pytest.approx(great_circle_km(50.0, 8.6, *frankfurt))
    assert result.placements[2].distance_km is None


def test_gpus_per_node_must_match_exactly():
    offers = [offer(1, gpus_per_node=4, price_per_hour=8.0), offer(2)]
    result = run(offers)
    assert ids(result) == [2]
    assert result.explanation.excluded["gpus_per_node"] == 1


def test_min_memory_and_architecture_select_gpu_models_without_naming_one():
    offers = [offer(1), offer(2, gpu="L4", gpu_memory_gb=24, architecture="ada", price_per_hour=4.0),
              offer(3, gpu="H200", gpu_memory_gb=141, price_per_hour=30.0)]
    assert ids(run(offers, gpu=None, min_gpu_memory_gb=80)) == [1, 3]
    assert ids(run(offers, gpu=None, architecture="ada")) == [2]
    assert run(offers, gpu=None, min_gpu_memory_gb=100).explanation.excluded["gpu"] == 2


def test_spot_request_needs_spot_price_and_is_priced_at_spot():
    offers = [offer(1, spot_price_per_hour=6.0), offer(2, price_per_hour=10.0)]
    result = run(offers, spot=True)
    assert ids(result) == [1]
    assert result.placements[0].spot and result.placements[0].price_per_hour == 6.0
    assert result.explanation.excluded["spot"] == 1


def test_price_cap_applies_per_gpu_hour_of_the_price_paid():
    offers = [offer(1, price_per_hour=28.0), offer(2, price_per_hour=24.0), offer(3, price_per_hour=40.0,
                                                                                spot_price_per_hour=16.0)]
    assert ids(run(offers, max_price_per_gpu_hour=3.0)) == [2]
    assert ids(run(offers, max_price_per_gpu_hour=3.0, spot=True)) == [3]


def test_interconnect_is_a_minimum():
    offers = [offer(1, interconnect="pcie"), offer(2, interconnect="nvlink"), offer(3, interconnect="infiniband")]
    assert ids(run(offers, interconnect="nvlink")) == [2, 3]


def test_suspect_and_stale_prices_never_win_unless_allowed():
    offers = [offer(1, price_per_hour=1.0, price_status="suspect"), offer(2, price_status="stale"), offer(3)]
    assert ids(run(offers)) == [3]
    assert ids(run(offers, allow_suspect_prices=True)) == [1, 2, 3]


def test_inactive_partner_is_excluded():
    result = run([offer(1, partner_active=False)])
    assert result.placements == ()
    assert result.explanation.excluded["partner_active"] == 1


def test_unspecified_location_fails_every_location_rule():
    unplaced = offer(1, country="", jurisdiction="", region="default")
    for policy in (Policy(regions=frozenset({"default", "eu-central-1"})), Policy(countries=frozenset({"DE"})),
                   Policy(jurisdictions=frozenset({"EU"}))):
        assert ids(run([unplaced, offer(2)], policy=policy)) == [2]
    assert ids(run([unplaced], policy=Policy())) == [1]


def test_sovereignty_rules_combine():
    offers = [
        offer(1, price_per_hour=10.0, country="US", jurisdiction="US", region="us-east-1",
              partner_certifications=frozenset({"ISO27001", "C5"})),
        offer(2, price_per_hour=11.0, partner="yankee", partner_hq_jurisdiction="US"),
        offer(3, price_per_hour=12.0, partner_certifications=frozenset({"ISO27001"})),
        offer(4, price_per_hour=13.0, partner="euro", partner_certifications=frozenset({"ISO27001", "C5"})),
    ]
    policy = Policy(jurisdictions=frozenset({"EU"}), partner_hq_jurisdictions=frozenset({"EU"}),
                    certifications=frozenset({"ISO27001", "C5"}))
    result = run(offers, policy=policy)
    assert ids(result) == [4]
    excluded = result.explanation.excluded
    assert (excluded["jurisdictions"], excluded["partner_hq_jurisdictions"], excluded["certifications"]) == (1, 1, 1)


def test_partner_allow_and_deny_lists():
    offers = [offer(1, partner="a"), offer(2, partner="b"), offer(3, partner="c")]
    assert ids(run(offers, policy=Policy(partners_allow=frozenset({"a", "b"})))) == [1, 2]
    assert ids(run(offers, policy=Policy(partners_deny=frozenset({"a"})))) == [2, 3]
    assert ids(run(offers, policy=Policy(partners_allow=frozenset({"a"}), partners_deny=frozenset({"a"})))) == []


def test_explanation_counts_each_offer_under_its_first_failing_rule():
    offers = [
        offer(1, gpu="L4", gpu_memory_gb=24, architecture="ada"),
        offer(2, gpus_per_node=1, price_per_hour=2.0),
        offer(3, price_per_hour=100.0, partner_active=False),  # fails price cap first
        offer(4, partner_active=False, country="US"),
        offer(5, country="US", jurisdiction="US"),
        offer(6, price_per_hour=None, price_status="suspect"),
        offer(7),
    ]
    result = run(offers, max_price_per_gpu_hour=5.0, policy=Policy(countries=frozenset({"DE"})))
    assert list(result.explanation.excluded) == list(RULES)
    assert {rule: n for rule, n in result.explanation.excluded.items() if n} == {
        "gpu": 1, "gpus_per_node": 1, "max_price": 1, "partner_active": 1, "countries": 1, "no_price": 1}
    assert (result.explanation.considered, result.explanation.matched) == (7, 1)


def test_limit_keeps_the_best_and_counts_every_match():
    offers = [offer(i, price_per_hour=float(20 - i)) for i in range(1, 16)]
    result = run(offers, limit=3)
    assert ids(result) == [15, 14, 13]
    assert result.explanation.matched == 15
    assert len(run(offers, limit=None).placements) == 15


def test_unknown_gpu_excludes_everything_by_gpu_rule():
    result = run([offer(1), offer(2)], gpu="B200")
    assert result.placements == ()
    assert result.explanation.excluded["gpu"] == 2


def test_index_finds_offers_by_id():
    index = OfferIndex([offer(7)], version=3)
    assert index.get(7).id == 7 and index.get(8) is None and index.version == 3 and len(index) == 1


def test_request_round_trips_to_its_json_shape():
    request = PlacementRequest(gpu="H100", nodes=2, near=Near(1.0, 2.0),
                               policy=Policy(countries=frozenset({"FR", "DE"})))
    data = request.to_dict()
    assert data["policy"]["countries"] == ["DE", "FR"] and data["near"] == {"lat": 1.0, "lon": 2.0}
    assert data["nodes"] == 2 and data["spot"] is False
