"""Fleets API: a fleet with a one-time join token, machines joining, their states, cordon/drain, isolation."""

from datetime import timedelta

import pytest
from django.utils import timezone

from fleets.models import Fleet, Machine, MachineEvent
from tests.fleets.conftest import Agent


def test_a_fleet_is_created_with_a_join_token_shown_once_and_stored_hashed(owner, fleet):
    assert fleet["join_token"].startswith("gpbj_") and fleet["price_per_gpu_hour"] == 0.5
    stored = Fleet.objects.get(pk=fleet["id"])
    assert fleet["join_token"] not in stored.join_token_hash and len(stored.join_token_hash) == 64
    again = owner.client.get(f"/api/v1/fleets/{fleet['id']}").json()
    assert "join_token" not in again and again["machines"] == []
    assert [f["id"] for f in owner.client.get("/api/v1/fleets").json()] == [fleet["id"]]


def test_bad_fleet_bodies_name_the_field(owner, fleet):
    response = owner.client.post("/api/v1/fleets", {"price_per_gpu_hour": -1}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"name", "price_per_gpu_hour"}
    duplicate = owner.client.post("/api/v1/fleets", {"name": "lab"}, format="json")
    assert duplicate.status_code == 400 and "name" in duplicate.json()["errors"]


def test_another_workspace_never_sees_the_fleet(stranger, fleet):
    assert stranger.client.get(f"/api/v1/fleets/{fleet['id']}").status_code == 404
    assert stranger.client.get("/api/v1/fleets").json() == []
    assert stranger.client.delete(f"/api/v1/fleets/{fleet['id']}").status_code == 404


def test_a_machine_joins_with_its_inventory_and_turns_ready_on_its_first_poll(owner, fleet, anon_client):
    agent = Agent(anon_client, fleet["join_token"], region="fra-lab")
    machine = Machine.objects.get(pk=agent.machine_id)
    assert machine.state == "joining" and machine.gpu == "H100" and machine.gpu_count == 2
    assert agent.token not in machine.token_hash
    agent.poll()
    body = owner.client.get(f"/api/v1/fleets/{fleet['id']}").json()["machines"][0]
    assert body["state"] == "ready" and body["gpu"] == "H100" and body["gpus"] == 2
    assert body["country"] == "DE" and body["region"] == "fra-lab" and body["simulated"] is False
    assert body["health"] == "healthy"
    events = list(MachineEvent.objects.filter(machine=machine).values_list("from_state", "to_state"))
    assert events == [("", "joining"), ("joining", "ready")]


def test_a_simulated_machine_says_so(owner, fleet, anon_client):
    agent = Agent(anon_client, fleet["join_token"], gpus=["H100"], simulated=True)
    body = owner.client.get(f"/api/v1/fleets/{fleet['id']}/machines/{agent.machine_id}").json()
    assert body["simulated"] is True and "(simulated)" in body["inventory"]


def test_a_machine_without_a_gpu_joins_and_says_it_has_none(owner, fleet, anon_client):
    agent = Agent(anon_client, fleet["join_token"], gpus=[])
    body = owner.client.get(f"/api/v1/fleets/{fleet['id']}/machines/{agent.machine_id}").json()
    assert body["gpu"] is None and body["gpus"] == 0 and body["inventory"].startswith("no GPU")


def test_joining_refuses_a_wrong_or_expired_token_and_bad_fields(anon_client, fleet):
    body = {"token": "gpbj_1_nope", "hostname": "x", "country": "DE", "inventory": {}}
    wrong = anon_client.post("/api/v1/fleets/join", body, format="json")
    assert wrong.status_code == 400 and "token" in wrong.json()["errors"]
    bad = anon_client.post("/api/v1/fleets/join", {**body, "token": fleet["join_token"], "country": "XX",
                                                   "inventory": {"vcpus": -1}}, format="json")
    assert bad.status_code == 400 and set(bad.json()["errors"]) == {"country", "inventory.vcpus"}
    Fleet.objects.filter(pk=fleet["id"]).update(join_token_expires_at=timezone.now() - timedelta(seconds=1))
    expired = anon_client.post("/api/v1/fleets/join", {**body, "token": fleet["join_token"]}, format="json")
    assert expired.status_code == 400 and "expired" in expired.json()["errors"]["token"][0]


def test_the_poll_needs_the_machines_own_credential(anon_client, join):
    agent = join()
    other = join(hostname="gpu-2")
    url = f"/api/v1/fleet-machines/{agent.machine_id}/poll"
    assert anon_client.post(url, {"health": "healthy"}, format="json").status_code == 401
    assert anon_client.post(url, {"health": "healthy"}, format="json",
                            HTTP_AUTHORIZATION=f"Machine {other.token}").status_code == 404


def test_cordon_uncordon_and_drain_move_the_machine_through_its_states(owner, fleet, join):
    agent = join()
    base = f"/api/v1/fleets/{fleet['id']}/machines/{agent.machine_id}"
    assert owner.client.post(f"{base}/cordon").json()["state"] == "cordoned"
    assert owner.client.post(f"{base}/uncordon").json()["state"] == "ready"
    assert owner.client.post(f"{base}/uncordon").json()["state"] == "ready"  # idempotent
    drained = owner.client.post(f"{base}/drain").json()
    assert drained["state"] == "removed"  # nothing ran on it
    assert [e["to"] for e in drained["events"]] == ["joining", "ready", "cordoned", "ready", "draining", "removed"]
    assert owner.client.post(f"{base}/cordon").status_code == 409
    assert agent.poll()["state"] == "removed"  # the agent stops


def test_a_viewer_cannot_cordon(fleet, join):
    from marketplace.models import Role
    from tests.conftest import make_persona

    viewer = make_persona("acme-ml", "viewer@acme.test", role=Role.VIEWER)
    agent = join()
    response = viewer.client.post(f"/api/v1/fleets/{fleet['id']}/machines/{agent.machine_id}/cordon")
    assert response.status_code == 403


def test_deleting_a_fleet_removes_its_machines(owner, fleet, join):
    join()
    assert owner.client.delete(f"/api/v1/fleets/{fleet['id']}").status_code == 204
    assert not Fleet.objects.exists() and Machine.objects.count() == 0


@pytest.mark.django_db(transaction=True)  # the long poll closes its connection between looks
def test_an_agent_long_polling_while_its_machine_is_deleted_is_told_it_is_removed(owner, fleet, join):
    from fleets.services.machines import instructions_wait

    agent = join()
    machine = Machine.objects.get(pk=agent.machine_id)
    looks = []

    def sleep(_s):  # the fleet is deleted between two looks of the long poll
        looks.append(1)
        Fleet.objects.filter(pk=fleet["id"]).delete()

    answer = instructions_wait(machine, 30, sleep=sleep)
    assert looks and answer.state == "removed" and answer.empty
