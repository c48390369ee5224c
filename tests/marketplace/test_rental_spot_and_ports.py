"""A rental's launch carries what it was priced as (spot or on demand) and the ports it needs, to the partner."""

from decimal import Decimal

from marketplace.models import Offer, Partner, RentalAttempt
from marketplace.services.partners import partner_sync
from tests.conftest import drive_rental

SPOT_H100 = {"gpu": "H100", "gpus_per_node": 1, "nodes": 1, "spot": True, "max_hours": 2,
             "policy": {"jurisdictions": ["EU"]}}


def _partner_node(simulator, rental) -> dict:
    node = rental.nodes.get(state="running")
    return simulator.store.get_node(rental.partner.slug, node.provider_ref)


def test_a_spot_rental_runs_on_a_node_the_partner_started_as_spot_at_the_spot_price(owner, sim_catalog):
    response = owner.client.post("/api/v1/rentals", SPOT_H100, format="json")
    assert response.status_code == 202, response.content
    rental = drive_rental(response.json()["id"])
    assert rental.state == "running"
    assert _partner_node(sim_catalog, rental)["spot"] is True  # what the partner launched, not just billed
    assert rental.locked_price_per_hour == Decimal(str(rental.offer.spot_price_per_hour))
    assert rental.locked_price_per_hour < rental.offer.price_per_hour


def test_an_on_demand_rental_is_never_started_as_spot(owner, sim_catalog):
    rental = drive_rental(owner.client.post("/api/v1/rentals", {**SPOT_H100, "spot": False},
                                            format="json").json()["id"])
    assert rental.state == "running" and _partner_node(sim_catalog, rental)["spot"] is False
    assert rental.locked_price_per_hour == Decimal(str(rental.offer.price_per_hour))


def test_a_partner_that_starts_on_demand_for_a_spot_request_loses_the_attempt(owner, sim_catalog, monkeypatch):
    from providers import partner_api

    ignore_spot = partner_api.node_from_json
    monkeypatch.setattr(partner_api, "node_from_json", lambda data: ignore_spot({**data, "spot": False}))
    rental = drive_rental(owner.client.post("/api/v1/rentals", SPOT_H100, format="json").json()["id"])
    failed = RentalAttempt.objects.filter(rental=rental, outcome="failed")
    assert failed and all("not as priced" in a.error_message for a in failed)
    assert rental.state == "failed"  # never billed as spot while the partner bills on demand
    for attempt in failed:
        assert sim_catalog.store.list_nodes(attempt.partner_slug) == []  # and nothing left running


def test_a_plain_rental_opens_ssh_only(owner, sim_catalog):
    rental = drive_rental(owner.client.post("/api/v1/rentals", {**SPOT_H100, "spot": False},
                                            format="json").json()["id"])
    assert _partner_node(sim_catalog, rental)["ports"] == [{"port": 22, "source": "0.0.0.0/0"}]


def test_partner_sync_lists_no_spot_price_for_a_partner_that_sells_no_spot(sim_catalog):
    lam = Partner.objects.get(slug="lambda")
    Offer.objects.filter(partner=lam).update(spot_price_per_hour=Decimal("0.1"))  # say the catalogue claimed one
    partner_sync(partner=lam)
    assert Offer.objects.filter(partner=lam).exists()
    assert not Offer.objects.filter(partner=lam, spot_price_per_hour__isnull=False).exists()
