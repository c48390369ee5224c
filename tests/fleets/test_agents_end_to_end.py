"""Two agents started as local processes join a fleet and run its work; the marketplace takes the overflow;
killing an agent fails its work over.

PostgreSQL only: the agents poll the live server while the test drives rentals, and an in-memory SQLite
database would be one connection shared by both threads.
"""

import json
import time
from datetime import timedelta

import pytest

from fleets.models import Machine, Work
from fleets.services.machines import machines_offline_sweep
from marketplace.models import Rental
from tests.conftest import drive_rental
from tests.fleets.agents import start_agent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.slow]
EU_H200 = {"gpu": "H200", "gpus_per_node": 1, "nodes": 1, "policy": {"jurisdictions": ["EU"]}, "max_hours": 2}
PATIENCE_S = 60


def _until(condition, what: str):
    deadline = time.monotonic() + PATIENCE_S
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(autouse=True)
def _market(sim_catalog):
    """The simulated marketplace first (it suspends every partner it does not serve), then the fleet."""


@pytest.fixture
def agents(live_server, fleet, tmp_path, settings):
    """Two agent processes, each on its own (NVML double) H200; machine id → process once both joined."""
    settings.FLEET_MACHINE_OFFLINE_AFTER_S = 2
    homes = [tmp_path / f"machine-{i}" for i in range(2)]
    started = [start_agent(live_server.url, fleet["join_token"], home, nvml_gpus="NVIDIA H200:1:141")
               for home in homes]
    _until(lambda: all((home / "machine.json").exists() for home in homes), "both agents joined")
    yield {json.loads((home / "machine.json").read_text())["machine_id"]: process
           for home, process in zip(homes, started, strict=True)}
    for process in started:
        process.kill()
        process.wait(10)


def _rent_on_fleet(owner, fleet) -> Rental:
    response = owner.client.post("/api/v1/rentals", EU_H200, format="json")
    assert response.status_code == 202, response.content
    rental = drive_rental(response.json()["id"])
    assert rental.partner.slug == fleet["partner"], rental.failure_reason
    _until(lambda: drive_rental(rental.pk).state == "running", f"rental {rental.pk} running on the fleet")
    return Rental.objects.get(pk=rental.pk)


def test_two_agents_run_fleet_work_the_marketplace_takes_the_rest_and_a_killed_agent_fails_over(
        owner, fleet, agents):
    _until(lambda: Machine.objects.filter(state="ready", health="healthy").count() == 2, "both machines ready")
    assert set(Machine.objects.values_list("gpu", "gpu_count", "simulated")) == {("H200", 1, False)}

    first, second = _rent_on_fleet(owner, fleet), _rent_on_fleet(owner, fleet)
    works = {w.node.rental_id: w for w in Work.objects.select_related("node", "machine")}
    assert works[first.pk].machine_id != works[second.pk].machine_id
    assert all(w.state == "running" and w.exit_code == 0 for w in works.values())

    third = drive_rental(owner.client.post("/api/v1/rentals", EU_H200, format="json").json()["id"])
    assert third.state == "running" and third.partner.slug != fleet["partner"]  # the fleet is full
    refused = owner.client.post("/api/v1/rentals", {**EU_H200, "capacity": "fleet_only"}, format="json")
    assert refused.status_code == 409 and refused.json()["explanation"]["excluded"]["capacity"] == 1

    killed, alive = works[first.pk].machine_id, works[second.pk].machine_id
    agents[killed].kill()
    agents[killed].wait(10)
    heard = Machine.objects.get(pk=killed).last_seen_at
    _until(lambda: Machine.objects.get(pk=alive).last_seen_at > heard + timedelta(seconds=1.5), "the other poll")
    assert machines_offline_sweep(now=heard + timedelta(seconds=2.5)) == 1
    assert Machine.objects.get(pk=killed).state == "offline" and Machine.objects.get(pk=alive).state == "ready"
    failed = Rental.objects.get(pk=first.pk)
    assert failed.state == "failed" and "offline" in failed.failure_reason
    assert Rental.objects.get(pk=second.pk).state == "running"
    # what ran there is placed again under the same request: the marketplace now, the fleet being down a machine
    again = drive_rental(owner.client.post("/api/v1/rentals", failed.request | {"max_hours": 2},
                                           format="json").json()["id"])
    assert again.state == "running" and again.partner.slug != fleet["partner"]
