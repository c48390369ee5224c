"""Rentals across a fleet and the marketplace: private offers, capacity modes, failover when a machine goes silent."""

from datetime import timedelta

import pytest
from django.utils import timezone

from fleets.models import Machine, Work
from fleets.services.machines import machines_offline_sweep
from marketplace.models import Offer, Rental
from tests.conftest import drive_rental

H200 = ("NVIDIA H200",)
MATCH_EU_H200 = {"gpu": "H200", "gpus_per_node": 1, "nodes": 1, "policy": {"jurisdictions": ["EU"]}}
EU_H200 = {**MATCH_EU_H200, "max_hours": 2}


@pytest.fixture(autouse=True)
def _market(sim_catalog):
    """The simulated marketplace first (it suspends every partner it does not serve), then the fleet."""


@pytest.fixture
def lab(join):
    """One H200 machine in Germany, ready, beside the simulated marketplace."""
    return join(gpus=H200, memory_gb=141)


def _rent(persona, **overrides):
    response = persona.client.post("/api/v1/rentals", {**EU_H200, **overrides}, format="json")
    assert response.status_code in (202, 409), response.content
    return response


def _fleet_offer(fleet) -> Offer:
    return Offer.objects.get(partner__slug=fleet["partner"])


def test_fleet_offers_are_private_to_their_workspace(owner, stranger, fleet, lab):
    offer = _fleet_offer(fleet)
    listed = owner.client.get("/api/v1/offers", {"gpu": "H200", "page_size": 500}).json()["results"]
    assert offer.pk not in {o["id"] for o in listed}  # never in the public catalogue
    assert stranger.client.get(f"/api/v1/offers/{offer.pk}").status_code == 404
    assert owner.client.get(f"/api/v1/offers/{offer.pk}").json()["partner"] == fleet["partner"]
    mine = owner.client.post("/api/v1/match", MATCH_EU_H200, format="json").json()
    assert mine["placements"][0]["offer"]["id"] == offer.pk  # fleet_first, priced at the internal price
    assert mine["placements"][0]["price_per_gpu_hour"] == 0.5
    theirs = stranger.client.post("/api/v1/match", {"gpu": "H200", "capacity": "fleet_first"}, format="json").json()
    assert offer.pk not in {p["offer"]["id"] for p in theirs["placements"]}


def test_marketplace_only_leaves_the_fleet_out_and_says_so(owner, fleet, lab):
    body = {"gpu": "H200", "policy": {"jurisdictions": ["EU"]}, "capacity": "marketplace_only"}
    answer = owner.client.post("/api/v1/match", body, format="json").json()
    assert _fleet_offer(fleet).pk not in {p["offer"]["id"] for p in answer["placements"]}
    assert answer["explanation"]["excluded"]["fleet"] == 1


def test_fleet_first_lands_on_the_fleet_then_bursts_to_the_marketplace_and_fleet_only_refuses(owner, fleet, lab):
    first = drive_rental(_rent(owner).json()["id"])
    assert first.state == "provisioning" and first.partner.slug == fleet["partner"]
    work = Work.objects.get()
    assert work.machine_id == lab.machine_id and work.node.rental_id == first.pk
    assert lab.run_assigned() == [work.pk]
    first = drive_rental(first.pk)
    assert first.state == "running" and first.nodes.get().ip == "10.0.0.7"
    assert _fleet_offer(fleet).available_nodes == 0

    second = drive_rental(_rent(owner).json()["id"])  # the fleet is full: a partner serves it
    assert second.state == "running" and second.partner.slug != fleet["partner"]
    assert second.offer.jurisdiction == "EU"

    refused = _rent(owner, capacity="fleet_only")
    assert refused.status_code == 409
    explanation = refused.json()["explanation"]
    assert explanation["excluded"]["capacity"] == 1 and explanation["excluded"]["fleet"] > 0
    assert explanation["matched"] == 0


def test_terminating_a_fleet_rental_stops_the_work_and_frees_the_machine(owner, fleet, lab):
    rental = drive_rental(_rent(owner).json()["id"])
    lab.run_assigned()
    drive_rental(rental.pk)
    owner.client.post(f"/api/v1/rentals/{rental.pk}/terminate")
    assert drive_rental(rental.pk).state == "terminated"
    answer = lab.poll()
    work = Work.objects.get()
    assert answer["stop"] == [work.pk] and work.state == "stopping"
    lab.poll(works=[{"id": work.pk, "state": "stopped", "exit_code": 0}])
    work.refresh_from_db()
    assert work.state == "stopped" and _fleet_offer(fleet).available_nodes == 1


def test_an_unhealthy_or_cordoned_machine_is_not_matched(owner, fleet, lab):
    lab.poll(health="unhealthy", reasons=["Xid 79: GPU fell off the bus"])
    assert _rent(owner, capacity="fleet_only").status_code == 409
    lab.poll(health="healthy")
    assert _fleet_offer(fleet).available_nodes == 1
    owner.client.post(f"/api/v1/fleets/{fleet['id']}/machines/{lab.machine_id}/cordon")
    assert _rent(owner, capacity="fleet_only").status_code == 409


def test_the_machines_health_is_its_running_nodes_health(owner, fleet, lab):
    rental = drive_rental(_rent(owner).json()["id"])
    lab.run_assigned()
    node = drive_rental(rental.pk).nodes.get()
    lab.poll(health="unhealthy", reasons=["Xid 79: GPU fell off the bus"])
    node.refresh_from_db()
    assert node.health == "unhealthy" and "Xid 79" in node.health_reason
    assert any("→ unhealthy" in e.reason for e in rental.events.all())  # its owner hears of it


def test_the_declared_location_is_the_machines_location_for_every_rule(owner, fleet, join):
    join(gpus=H200, memory_gb=141, country="US", hostname="us-1")
    refused = _rent(owner, capacity="fleet_only")
    assert refused.status_code == 409 and refused.json()["explanation"]["excluded"]["jurisdictions"] == 1
    accepted = _rent(owner, capacity="fleet_only", policy={"countries": ["US"]})
    assert accepted.status_code == 202


def test_a_silent_machine_goes_offline_and_its_provisioning_rental_fails_over(owner, fleet, lab, worker):
    rental = drive_rental(_rent(owner).json()["id"])
    assert rental.partner.slug == fleet["partner"]  # assigned; the agent never pulls it
    later = timezone.now() + timedelta(minutes=5)
    with worker():
        assert machines_offline_sweep(now=later) == 1
    assert Machine.objects.get(pk=lab.machine_id).state == "offline"
    rental = drive_rental(rental.pk)
    assert rental.state == "running" and rental.partner.slug != fleet["partner"]
    assert rental.attempts.first().outcome == "failed"
    assert any("failover" in e.reason for e in rental.events.all())
    lab.poll()  # heard again
    assert Machine.objects.get(pk=lab.machine_id).state == "ready"


def test_a_running_rental_on_a_machine_that_went_silent_fails(owner, fleet, lab):
    rental = drive_rental(_rent(owner).json()["id"])
    lab.run_assigned()
    assert drive_rental(rental.pk).state == "running"
    machines_offline_sweep(now=timezone.now() + timedelta(minutes=5))
    rental = Rental.objects.get(pk=rental.pk)
    assert rental.state == "failed" and "offline" in rental.failure_reason
    assert Work.objects.get().state == "failed"


def test_draining_terminates_the_machines_rental_and_then_removes_it(owner, fleet, lab):
    rental = drive_rental(_rent(owner).json()["id"])
    lab.run_assigned()
    drive_rental(rental.pk)
    base = f"/api/v1/fleets/{fleet['id']}/machines/{lab.machine_id}"
    assert owner.client.post(f"{base}/drain").json()["state"] == "draining"
    assert drive_rental(rental.pk).state == "terminated"
    work = Work.objects.get()
    lab.poll(works=[{"id": work.pk, "state": "stopped", "exit_code": 0}])
    assert Machine.objects.get(pk=lab.machine_id).state == "removed"
