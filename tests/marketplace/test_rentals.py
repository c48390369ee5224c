"""Rentals end to end on the simulated partners: reserve, provision, fail over, run, meter, terminate."""

from datetime import timedelta
from decimal import Decimal

import pytest
import requests
from django.utils import timezone

from marketplace.models import Node, Offer, Rental, RentalAttempt
from marketplace.services.metering import rental_cost
from marketplace.services.rentals import rentals_expire
from tests.conftest import drive_rental

EU_H200 = {"gpu": "H200", "gpus_per_node": 1, "nodes": 1, "policy": {"jurisdictions": ["EU"]}, "max_hours": 2}


def _rent(persona, body=None, **headers):
    return persona.client.post("/api/v1/rentals", body or EU_H200, format="json", **headers)


def _sim_nodes(simulator, slug):
    return [n for n in simulator.store.list_nodes(slug)]


def test_rental_is_accepted_then_reaches_running_inside_the_policy(owner, sim_catalog):
    response = _rent(owner)
    assert response.status_code == 202, response.content
    assert response.json()["state"] == "pending"
    rental = drive_rental(response.json()["id"])
    assert rental.state == "running"
    assert rental.offer.jurisdiction == "EU" and rental.offer.gpu.name == "H200"
    body = owner.client.get(f"/api/v1/rentals/{rental.pk}").json()
    assert [e["to"] for e in body["events"] if e["from"] != e["to"]] == ["pending", "provisioning", "running"]
    node = body["nodes"][0]
    assert node["state"] == "running" and node["ip"] and node["ssh"].startswith("ssh ")
    assert body["locked_price_per_hour"] == float(rental.locked_price_per_hour)
    assert len(_sim_nodes(sim_catalog, rental.partner.slug)) == 1


def test_cheapest_eligible_offer_is_rented_first(owner, sim_catalog):
    rental = drive_rental(_rent(owner).json()["id"])
    cheapest = (Offer.objects.filter(gpu__name="H200", gpus_per_node=1, jurisdiction="EU", price_status="ok",
                                     partner__status="active").order_by("price_per_hour").first())
    assert rental.offer_id == cheapest.pk


def test_fails_over_when_partner_has_no_capacity(owner, sim_catalog):
    first = Offer.objects.filter(gpu__name="H200", gpus_per_node=1, jurisdiction="EU", price_status="ok",
                                 partner__status="active").order_by("price_per_hour").first()
    requests.post(f"{sim_catalog.url}/_control/{first.partner.slug}", json={"capacity_error_rate": 1.0}, timeout=5)
    rental = drive_rental(_rent(owner).json()["id"])
    assert rental.state == "running" and rental.offer_id != first.pk
    assert rental.offer.jurisdiction == "EU"
    failed = RentalAttempt.objects.get(rental=rental, offer=first)
    assert failed.outcome == "failed" and failed.error_kind == "no_capacity"
    assert any("failover" in e.reason for e in rental.events.all())
    first.refresh_from_db()
    assert first.available_nodes == 2  # the failed attempt gave its reservation back


def test_fails_with_reasons_when_every_candidate_is_out_of_capacity(owner, sim_catalog):
    for slug in ("nebius", "verda", "seeweb", "lambda", "hyperstack"):
        requests.post(f"{sim_catalog.url}/_control/{slug}", json={"capacity_error_rate": 1.0}, timeout=5)
    rental = drive_rental(_rent(owner).json()["id"])
    assert rental.state == "failed"
    assert rental.failure_reason.startswith("no capacity")
    assert Node.objects.filter(rental=rental).exclude(state="terminated").count() == 0
    assert not any(_sim_nodes(sim_catalog, s) for s in ("nebius", "verda", "seeweb"))


def test_no_placement_is_409_with_the_explanation(owner, sim_catalog):
    body = {**EU_H200, "max_price_per_gpu_hour": 0.5}
    response = _rent(owner, body)
    assert response.status_code == 409
    explanation = response.json()["explanation"]
    assert explanation["matched"] == 0 and explanation["excluded"]["max_price"] > 0


def test_validation_errors_name_the_field(owner, sim_catalog):
    response = _rent(owner, {**EU_H200, "gpu": "H1000", "max_hours": -1, "policy": {"countries": ["XX"]}})
    assert response.status_code == 400
    assert {"gpu", "max_hours", "policy.countries"} <= set(response.json()["errors"])
    assert _rent(owner, {"gpu": "H200"}).json()["errors"]["max_hours"]


def test_idempotency_key_returns_the_same_rental_and_rejects_another_body(owner, sim_catalog):
    first = _rent(owner, HTTP_IDEMPOTENCY_KEY="ci-run-42")
    again = _rent(owner, HTTP_IDEMPOTENCY_KEY="ci-run-42")
    assert first.status_code == 202 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    other = _rent(owner, {**EU_H200, "max_hours": 3}, HTTP_IDEMPOTENCY_KEY="ci-run-42")
    assert other.status_code == 422
    assert Rental.objects.count() == 1


def test_terminate_is_idempotent_and_releases_the_node_and_capacity(owner, sim_catalog):
    rental = drive_rental(_rent(owner).json()["id"])
    offer_before = Offer.objects.get(pk=rental.offer_id).available_nodes
    first = owner.client.post(f"/api/v1/rentals/{rental.pk}/terminate")
    second = owner.client.post(f"/api/v1/rentals/{rental.pk}/terminate")
    assert first.status_code == second.status_code == 202
    rental = drive_rental(rental.pk)
    assert rental.state == "terminated" and rental.ended_at is not None
    assert Offer.objects.get(pk=rental.offer_id).available_nodes == offer_before + 1
    assert _sim_nodes(sim_catalog, rental.partner.slug) == []
    assert [e.to_state for e in rental.events.all()].count("terminating") == 1


def test_cost_accrues_per_second_at_the_locked_price(owner, sim_catalog):
    rental = drive_rental(_rent(owner).json()["id"])
    start = rental.running_since
    assert rental_cost(rental, now=start + timedelta(seconds=90)) == (
        rental.locked_price_per_hour * Decimal(90) / Decimal(3600)).quantize(Decimal("0.0001"))
    Offer.objects.filter(pk=rental.offer_id).update(price_per_hour=Decimal("999"))
    rental.refresh_from_db()
    assert rental.locked_price_per_hour < Decimal("999")


def test_max_hours_terminates_the_rental(owner, sim_catalog):
    rental = drive_rental(_rent(owner).json()["id"])
    assert rentals_expire(now=rental.running_since + timedelta(hours=1)) == 0
    assert rentals_expire(now=rental.running_since + timedelta(hours=2, seconds=1)) == 1
    rental = drive_rental(rental.pk)
    assert rental.state == "terminated"
    assert any(e.actor == "max_hours" for e in rental.events.all())


def test_another_workspace_rental_is_404(owner, stranger, sim_catalog):
    rental_id = _rent(owner).json()["id"]
    assert stranger.client.get(f"/api/v1/rentals/{rental_id}").status_code == 404
    assert stranger.client.post(f"/api/v1/rentals/{rental_id}/terminate").status_code == 404
    assert stranger.client.get("/api/v1/rentals").json()["count"] == 0


def test_a_plain_rentals_launch_plan_says_it_sent_none_and_is_404_to_others(owner, stranger, sim_catalog):
    rental = drive_rental(_rent(owner).json()["id"])
    plan = owner.client.get(f"/api/v1/rentals/{rental.pk}/launch-plan")
    assert plan.status_code == 200
    (node,) = plan.json()["nodes"]
    assert (node["format"], node["launch_plan"], node["state"]) == ("none", "", "running")
    assert _sim_nodes(sim_catalog, rental.partner.slug)[0]["user_data"] == ""  # nothing was sent indeed
    assert stranger.client.get(f"/api/v1/rentals/{rental.pk}/launch-plan").status_code == 404
    assert owner.client.get("/api/v1/rentals/999999/launch-plan").status_code == 404


def test_viewer_cannot_rent(owner, sim_catalog):
    from marketplace.models import Membership, Role
    from tests.conftest import make_persona

    viewer = make_persona(owner.workspace.name, "viewer@acme.test")
    Membership.objects.filter(user=viewer.user).update(role=Role.VIEWER)
    assert _rent(viewer).status_code == 403
    assert viewer.client.get("/api/v1/rentals").status_code == 200


def test_rentals_require_an_api_key(anon_client, sim_catalog):
    assert anon_client.post("/api/v1/rentals", EU_H200, format="json").status_code == 401


def test_rate_limit_answers_429_with_retry_after(owner, sim_catalog, settings):
    from django.core.cache import cache

    cache.clear()
    settings.RENTAL_RATE_LIMIT_PER_MIN = 2
    codes = [_rent(owner, {**EU_H200, "max_price_per_gpu_hour": 0.1}).status_code for _ in range(3)]
    assert codes[:2] == [409, 409] and codes[2] == 429
    assert int(_rent(owner)["Retry-After"]) > 0
    cache.clear()


def test_gang_rental_takes_all_nodes_from_one_region(owner, sim_catalog):
    body = {"gpu": "H200", "gpus_per_node": 8, "nodes": 2, "policy": {"jurisdictions": ["EU"]}, "max_hours": 1}
    rental = drive_rental(_rent(owner, body).json()["id"])
    assert rental.state == "running"
    nodes = list(rental.nodes.filter(state="running"))
    assert len(nodes) == 2 and {n.region_code for n in nodes} == {rental.offer.region.code}


def test_usage_json_and_csv(owner, sim_catalog):
    rental = drive_rental(_rent(owner).json()["id"])
    Rental.objects.filter(pk=rental.pk).update(running_since=timezone.now() - timedelta(hours=1))
    usage = owner.client.get("/api/v1/usage").json()
    assert usage["total"] == pytest.approx(float(rental.locked_price_per_hour), rel=0.01)
    assert usage["rows"][0]["rental"] == rental.pk
    csv_response = owner.client.get("/api/v1/usage?format=csv")
    assert csv_response["Content-Type"] == "text/csv"
    lines = csv_response.content.decode().splitlines()
    assert lines[0].startswith("day,rental_id") and str(rental.pk) in lines[1]
    assert owner.client.get("/api/v1/usage?since=yesterday").status_code == 400


def test_rentals_list_filters_by_state_and_rejects_unknown_states(owner, sim_catalog):
    rental = drive_rental(_rent(owner).json()["id"])
    assert [r["id"] for r in owner.client.get("/api/v1/rentals?state=running").json()["results"]] == [rental.pk]
    assert owner.client.get("/api/v1/rentals?state=failed").json()["count"] == 0
    response = owner.client.get("/api/v1/rentals?state=sleeping")
    assert response.status_code == 400 and "state" in response.json()["errors"]
