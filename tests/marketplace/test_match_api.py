"""POST /api/v1/match: validation naming the field, the happy path, authentication."""

import pytest

from marketplace.matching import Near, PlacementRequest, Policy
from marketplace.placement import parse_placement_request
from marketplace.selectors.catalog_version import bump_catalog_version
from marketplace.selectors.offer_index import clear_offer_index_cache
from tests.marketplace.test_offer_index import create_offer

URL = "/api/v1/match"


@pytest.fixture(autouse=True)
def fresh_index_cache():
    clear_offer_index_cache()
    yield
    clear_offer_index_cache()


@pytest.fixture
def catalogue(db):
    offers = {
        "eu_cheap": create_offer(price="20.00", partner="euro", region="eu-central-1"),
        "eu_dear": create_offer(price="28.00", partner="euro", region="eu-west-3", country="FR"),
        "us": create_offer(price="16.00", partner="yankee", hq="US", region="us-east-1", country="US",
                           jurisdiction="US"),
        "small": create_offer(price="2.50", gpus_per_node=1),
        "gone": create_offer(price="18.00", partner="gone", status="suspended"),
    }
    bump_catalog_version()
    return offers


def post(persona, body):
    return persona.client.post(URL, body, format="json")


def test_match_ranks_placements_and_explains_exclusions(owner, catalogue):
    response = post(owner, {"gpu": "h100", "gpus_per_node": 8, "nodes": 2, "near": {"lat": 50, "lon": 8},
                            "policy": {"jurisdictions": ["EU"]}})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert [p["offer"]["id"] for p in body["placements"]] == [catalogue["eu_cheap"].id, catalogue["eu_dear"].id]
    best = body["placements"][0]
    assert (best["nodes"], best["price_per_hour"], best["price_per_node_hour"], best["price_per_gpu_hour"]) == (
        2, 40.0, 20.0, 2.5)
    assert best["spot"] is False and best["distance_km"] is not None
    offer = best["offer"]
    assert (offer["partner"], offer["region"], offer["country"], offer["jurisdiction"], offer["gpu"]) == (
        "euro", "eu-central-1", "DE", "EU", "H100")
    assert {"instance_type", "gpu_memory_gb", "vcpus", "memory_gb", "interconnect", "spot_price_per_hour",
            "available_nodes", "price_status", "updated_at"} <= set(offer)
    explanation = body["explanation"]
    assert explanation["considered"] == 5 and explanation["matched"] == 2
    assert {k: v for k, v in explanation["excluded"].items() if v} == {
        "gpus_per_node": 1, "partner_active": 1, "jurisdictions": 1}


def test_match_limit_cuts_placements_but_not_the_count(owner, catalogue):
    body = post(owner, {"gpu": "H100", "gpus_per_node": 8, "limit": 1}).json()
    assert len(body["placements"]) == 1 and body["explanation"]["matched"] == 3


def test_match_with_no_result_tells_which_rule_excluded(owner, catalogue):
    body = post(owner, {"gpu": "H100", "gpus_per_node": 8, "max_price_per_gpu_hour": 1.0}).json()
    assert body["placements"] == []
    assert body["explanation"]["excluded"]["max_price"] == 4


@pytest.mark.parametrize(("body", "field"), [
    ({"gpu": "TPU9"}, "gpu"),
    ({"gpu": "H100", "policy": {"countries": ["DE", "XX"]}}, "policy.countries"),
    ({"gpu": "H100", "policy": {"jurisdictions": ["MARS"]}}, "policy.jurisdictions"),
    ({"gpu": "H100", "policy": {"partner_hq_jurisdictions": ["??"]}}, "policy.partner_hq_jurisdictions"),
    ({"gpu": "H100", "max_price_per_gpu_hour": -1}, "max_price_per_gpu_hour"),
    ({"gpu": "H100", "nodes": 0}, "nodes"),
    ({"gpu": "H100", "gpus_per_node": 0}, "gpus_per_node"),
    ({"gpu": "H100", "interconnect": "carrier-pigeon"}, "interconnect"),
    ({"gpu": "H100", "near": {"lat": 91, "lon": 0}}, "near.lat"),
    ({"gpu": "H100", "near": {"lat": 0, "lon": -181}}, "near.lon"),
    ({"gpu": "H100", "limit": 0}, "limit"),
    ({"gpu": "H100", "limit": 101}, "limit"),
    ({"gpu": "H100", "architecture": "quantum"}, "architecture"),
    ({"gpu": "H100", "min_gpu_memory_gb": -8}, "min_gpu_memory_gb"),
    ({"gpu": "H100", "polcy": {}}, "polcy"),
    ({"gpu": "H100", "policy": {"partners": {"deny": ["acme"], "alow": ["x"]}}}, "policy.partners.alow"),
])
def test_invalid_request_is_400_naming_the_field(owner, body, field):
    response = post(owner, body)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert field in errors, errors
    assert all(isinstance(message, str) for message in errors[field])


def test_every_invalid_field_is_reported_at_once(owner):
    errors = post(owner, {"gpu": "TPU9", "nodes": 0, "limit": 0}).json()["errors"]
    assert {"gpu", "nodes", "limit"} <= set(errors)


def test_non_object_body_is_400(owner):
    response = owner.client.post(URL, [1, 2], format="json")
    assert response.status_code == 400 and "non_field_errors" in response.json()["errors"]


def test_match_requires_authentication(anon_client, db):
    assert anon_client.post(URL, {"gpu": "H100"}, format="json").status_code in (401, 403)


def test_parse_placement_request_normalises_names_and_codes():
    request = parse_placement_request({
        "gpu": "h100-sxm", "gpus_per_node": 8, "nodes": 2, "interconnect": "infiniband", "spot": True,
        "architecture": "Hopper", "max_price_per_gpu_hour": "3.5", "near": {"lat": 50.1, "lon": 8.7},
        "policy": {"countries": ["de", "FR"], "jurisdictions": ["eu"], "partners": {"deny": ["acme"]},
                   "partner_hq_jurisdictions": ["EU"], "certifications": ["iso27001"]},
        "allow_suspect_prices": True,
    })
    assert request == PlacementRequest(
        gpu="H100", architecture="hopper", gpus_per_node=8, nodes=2, interconnect="infiniband", spot=True,
        max_price_per_gpu_hour=3.5, near=Near(50.1, 8.7), allow_suspect_prices=True,
        policy=Policy(countries=frozenset({"DE", "FR"}), jurisdictions=frozenset({"EU"}),
                      partners_deny=frozenset({"acme"}), partner_hq_jurisdictions=frozenset({"EU"}),
                      certifications=frozenset({"ISO27001"})))


def test_parse_placement_request_defaults_and_extra_fields():
    assert parse_placement_request({"gpu": None, "max_hours": 3}, allowed_extra={"max_hours"}) == PlacementRequest()
