"""Matching over the bundled real catalogue (../shared/catalog/skypilot), loaded by the importer."""

from pathlib import Path

import pytest
from django.conf import settings

from marketplace.catalog.importer import import_catalog
from marketplace.matching import RULES, PlacementRequest, Policy, match
from marketplace.selectors.offer_index import clear_offer_index_cache, get_offer_index
from tests.marketplace.test_matching_properties import failed_rule, oracle

CATALOG_DIR = Path(settings.CATALOG_DIR)
pytestmark = pytest.mark.skipif(not CATALOG_DIR.is_dir(), reason="catalogue data not present")

EU = frozenset({"EU"})


@pytest.fixture
def index(db):
    clear_offer_index_cache()
    import_catalog(CATALOG_DIR)
    yield get_offer_index()
    clear_offer_index_cache()


def test_eight_h100_in_the_eu_from_eu_headquartered_partners_only(index):
    request = PlacementRequest(gpu="H100", gpus_per_node=8,
                               policy=Policy(jurisdictions=EU, partner_hq_jurisdictions=EU))
    result = match(request, index, limit=None)
    assert result.placements
    for placement in result.placements:
        offer = placement.offer
        assert (offer.gpu, offer.gpus_per_node, offer.jurisdiction, offer.partner_hq_jurisdiction) == (
            "H100", 8, "EU", "EU")
    assert result.explanation.excluded["partner_hq_jurisdictions"] > 0


def test_dropping_the_hq_rule_widens_the_eu_result(index):
    strict = match(PlacementRequest(gpu="H100", gpus_per_node=8,
                                    policy=Policy(jurisdictions=EU, partner_hq_jurisdictions=EU)), index)
    located = match(PlacementRequest(gpu="H100", gpus_per_node=8, policy=Policy(jurisdictions=EU)), index)
    assert located.explanation.matched > strict.explanation.matched


@pytest.mark.parametrize("request_", [
    PlacementRequest(gpu="H100", gpus_per_node=8, policy=Policy(jurisdictions=EU, partner_hq_jurisdictions=EU)),
    PlacementRequest(gpu="L4", gpus_per_node=1, max_price_per_gpu_hour=1.0),
    PlacementRequest(min_gpu_memory_gb=80, gpus_per_node=8, spot=True),
    PlacementRequest(gpu="A100-80GB", gpus_per_node=8, nodes=2, policy=Policy(countries=frozenset({"US"}))),
    PlacementRequest(architecture="ada", allow_suspect_prices=True),
], ids=["eu-sovereign-h100x8", "cheap-l4", "spot-80gb", "gang-a100-us", "ada-any-price"])
def test_real_catalogue_answers_agree_with_the_oracle(index, request_):
    result = match(request_, index, limit=10)
    feasible, counts = oracle(list(index.offers), request_)
    assert [p.offer.id for p in result.placements] == [o.id for o in feasible[:10]]
    assert dict(result.explanation.excluded) == counts
    assert all(failed_rule(p.offer, request_) is None for p in result.placements)
    assert sum(result.explanation.excluded[rule] for rule in RULES) + result.explanation.matched == len(index)


def test_match_api_serves_the_real_catalogue(index, owner):
    response = owner.client.post("/api/v1/match", {
        "gpu": "H100", "gpus_per_node": 8, "policy": {"jurisdictions": ["EU"], "partner_hq_jurisdictions": ["EU"]},
    }, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["placements"] and body["explanation"]["considered"] == len(index)
    assert {p["offer"]["jurisdiction"] for p in body["placements"]} == {"EU"}
