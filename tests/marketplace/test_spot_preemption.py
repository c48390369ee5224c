"""Spot preemption at the broker: detected (watch, reconciliation, notices), billed up to its second, announced."""

from datetime import timedelta
from decimal import Decimal

import requests
from django.utils import timezone
from rest_framework.test import APIClient

from marketplace.models import Node, Rental
from marketplace.services.metering import rental_cost
from marketplace.services.node_health import node_token
from marketplace.services.preemption import spot_rentals_watch
from marketplace.services.reconcile import reconcile_all
from marketplace.signals import preemption_noticed, state_changed
from tests.conftest import drive_rental

SPOT_H100 = {"gpu": "H100", "gpus_per_node": 1, "nodes": 1, "spot": True, "max_hours": 2,
             "policy": {"jurisdictions": ["EU"]}}


def _control(simulator, slug: str, **changes) -> None:
    assert requests.post(f"{simulator.url}/_control/{slug}", json=changes, timeout=5).status_code == 200


def _running_spot_rental(owner, body=SPOT_H100) -> Rental:
    response = owner.client.post("/api/v1/rentals", body, format="json")
    assert response.status_code == 202, response.content
    rental = drive_rental(response.json()["id"])
    assert rental.state == "running" and rental.spot
    return rental


def _heard(signal, **filters) -> list[dict]:
    heard: list[dict] = []

    def receiver(sender, **kwargs):
        if all(kwargs.get(k) == v for k, v in filters.items()):
            heard.append(kwargs)

    signal.connect(receiver, sender=Rental, weak=False)
    return heard


def test_a_preempted_spot_rental_ends_preempted_and_is_billed_up_to_that_second_only(owner, sim_catalog):
    rental = _running_spot_rental(owner)
    node = rental.nodes.get(state="running")
    heard = _heard(state_changed, to_state="preempted")
    before = timezone.now()
    _control(sim_catalog, rental.partner.slug, preempt=node.provider_ref)
    after = timezone.now()
    assert spot_rentals_watch() == {"preempted": 1, "noticed": 0}

    rental.refresh_from_db()
    node.refresh_from_db()
    assert rental.state == "preempted" and node.state == "preempted"
    assert before <= rental.ended_at <= after  # the partner's own second, not when the watch came by
    assert rental.reserved_nodes == 0
    later = timezone.now() + timedelta(hours=1)
    assert rental_cost(rental, now=later) == rental_cost(rental, now=rental.ended_at)
    assert [h["instance"].pk for h in heard] == [rental.pk]  # upper apps hear `preempted`, with the rental
    answer = owner.client.get(f"/api/v1/rentals/{rental.pk}").json()
    assert answer["state"] == "preempted" and "preempted by" in answer["failure_reason"]
    assert spot_rentals_watch() == {"preempted": 0, "noticed": 0}  # once


def test_reconciliation_catches_a_preemption_the_watch_missed(owner, sim_catalog):
    rental = _running_spot_rental(owner)
    node = rental.nodes.get(state="running")
    _control(sim_catalog, rental.partner.slug, preempt=node.provider_ref)
    reconcile_all()
    rental.refresh_from_db()
    assert rental.state == "preempted"
    assert rental.events.filter(to_state="preempted", actor="reconciliation").exists()


def test_a_spot_node_that_vanished_is_taken_as_preempted_and_an_on_demand_one_as_failed(owner, sim_catalog):
    spot = _running_spot_rental(owner)
    on_demand = drive_rental(owner.client.post("/api/v1/rentals", {**SPOT_H100, "spot": False},
                                               format="json").json()["id"])
    for rental in (spot, on_demand):
        Node.objects.filter(rental=rental).update(provider_ref="gone-without-a-trace")
    reconcile_all()
    assert Rental.objects.get(pk=spot.pk).state == "preempted"
    assert Rental.objects.get(pk=on_demand.pk).state == "failed"


def test_the_partners_notice_is_recorded_and_announced_while_the_node_still_runs(owner, sim_catalog):
    partners = ("verda", "nebius", "seeweb", "hyperstack")
    for slug in partners:
        _control(sim_catalog, slug, preemption_rate=1.0, preemption_after_s=3600, preemption_notice_s=3600)
    heard = _heard(preemption_noticed)
    rental = _running_spot_rental(owner)
    assert spot_rentals_watch() == {"preempted": 0, "noticed": 1}
    rental.refresh_from_db()
    assert rental.state == "running" and rental.preempt_at > timezone.now() + timedelta(minutes=50)
    assert [h["rental_id"] for h in heard] == [rental.pk]
    assert rental.events.filter(reason__startswith="preemption notice").count() == 1
    assert spot_rentals_watch() == {"preempted": 0, "noticed": 0}  # the same notice once


def test_the_node_agent_reports_the_instance_metadata_notice_in_its_heartbeat(owner, sim_catalog):
    rental = _running_spot_rental(owner)
    node = rental.nodes.get(state="running")
    agent = APIClient()
    agent.credentials(HTTP_AUTHORIZATION=f"Node {node_token(node)}")
    at = (timezone.now() + timedelta(minutes=2)).replace(microsecond=0)
    report = {"state": "healthy", "repair": "none", "reasons": [], "gpus": [], "xid_events": [],
              "agent_version": "test", "reported_at": timezone.now().isoformat(),
              "spot_interruption": {"action": "terminate", "time": at.isoformat().replace("+00:00", "Z")}}
    assert agent.post(f"/api/v1/nodes/{node.pk}/health", report, format="json").status_code == 200
    rental.refresh_from_db()
    assert rental.preempt_at == at
    bad = agent.post(f"/api/v1/nodes/{node.pk}/health", {**report, "spot_interruption": {"action": "explode"}},
                     format="json")
    assert bad.status_code == 400 and "spot_interruption.action" in bad.json()["errors"]


def test_spot_fallback_places_on_demand_only_when_no_spot_placement_is_left(owner, sim_catalog):
    no_spot = {**SPOT_H100, "policy": {"partners": {"allow": ["lambda"]}}}  # Lambda sells no spot
    refused = owner.client.post("/api/v1/rentals", no_spot, format="json")
    assert refused.status_code == 409
    rental = drive_rental(owner.client.post("/api/v1/rentals", {**no_spot, "spot_fallback": True},
                                            format="json").json()["id"])
    assert rental.state == "running" and not rental.spot
    assert rental.partner.slug == "lambda"  # still inside the policy
    assert rental.locked_price_per_hour == rental.offer.price_per_hour == rental.on_demand_price_per_hour
    assert rental.events.filter(reason__contains="spot_fallback").exists()
    node = rental.nodes.get(state="running")
    assert sim_catalog.store.get_node("lambda", node.provider_ref)["spot"] is False


def test_spot_fallback_is_refused_without_spot_naming_the_field(owner, sim_catalog):
    response = owner.client.post("/api/v1/rentals", {**SPOT_H100, "spot": False, "spot_fallback": True},
                                 format="json")
    assert response.status_code == 400 and list(response.json()["errors"]) == ["spot_fallback"]
    match = owner.client.post("/api/v1/match", {"gpu": "H100", "spot_fallback": "yes please"}, format="json")
    assert match.status_code == 400 and "spot_fallback" in match.json()["errors"]


def test_usage_shows_spot_savings_and_recovered_preemptions(owner, sim_catalog):
    lost = _running_spot_rental(owner)
    start = timezone.now() - timedelta(hours=3)
    Rental.objects.filter(pk=lost.pk).update(running_since=start)
    _control(sim_catalog, lost.partner.slug, preempt=lost.nodes.get(state="running").provider_ref)
    spot_rentals_watch()
    lost.refresh_from_db()
    replacement = drive_rental(owner.client.post("/api/v1/rentals", SPOT_H100, format="json").json()["id"])
    Rental.objects.filter(pk=replacement.pk).update(replaces=lost)

    usage = owner.client.get("/api/v1/usage").json()
    hours = Decimal((lost.ended_at - start).total_seconds()) / 3600
    saved = (lost.on_demand_price_per_hour - lost.locked_price_per_hour) * hours
    assert abs(Decimal(str(usage["spot_savings"])) - saved) < Decimal("0.01")
    assert usage["spot_savings"] > 0
    assert usage["preemptions"] == {"preemptions": 1, "recovered": 1}
    csv = owner.client.get("/api/v1/usage", {"format": "csv"}).content.decode().splitlines()
    assert "cost_usd,spot,spot_savings_usd" in csv[0] and ",yes," in csv[1]


def test_match_lists_on_demand_placements_after_the_spot_ones_only_with_spot_fallback(owner, sim_catalog):
    body = {"gpu": "H100", "spot": True, "policy": {"jurisdictions": ["EU"]}, "limit": 3}
    spot_only = owner.client.post("/api/v1/match", body, format="json").json()["placements"]
    assert spot_only and all(p["spot"] for p in spot_only)
    both = owner.client.post("/api/v1/match", {**body, "spot_fallback": True}, format="json").json()["placements"]
    kinds = [p["spot"] for p in both]
    assert kinds == sorted(kinds, reverse=True) and False in kinds  # spot first, then on demand
    assert all(p["offer"]["jurisdiction"] == "EU" for p in both)
