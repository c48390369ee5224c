"""Races between the API and the workers, replayed as controlled interleavings: the second actor runs
exactly inside the window the first one left open (after its read, during its partner call)."""

import pytest

from marketplace.api.rentals import RentalViewSet
from marketplace.models import Node, Rental
from marketplace.services import rentals as rental_services
from marketplace.services.reconcile import reconcile_all
from marketplace.services.rentals import rental_poll, rental_provision
from marketplace.states import transition
from nim_launcher.api.deployments import DeploymentViewSet
from nim_launcher.models import Deployment, Replica
from nim_launcher.services.deployments import _add_replica, deployment_delete
from tests.conftest import drive_rental
from tests.marketplace.test_rentals import _rent, _sim_nodes

pytestmark = pytest.mark.usefixtures("sim_catalog")


def _after_read(monkeypatch, viewset, worker_step):
    """The view reads its row, then a worker moves that row before the view writes."""
    original = viewset.get_object

    def get_object(self):
        row = original(self)
        worker_step(row.pk)
        return row

    monkeypatch.setattr(viewset, "get_object", get_object)


def _poll_until_running(rental_id: int) -> None:
    for _ in range(50):
        rental_poll(rental_id)
        if Rental.objects.get(pk=rental_id).state == "running":
            return
    raise AssertionError("the rental never ran")


def test_terminate_lands_when_the_worker_moves_the_rental_after_the_view_read_it(owner, monkeypatch, sim_catalog):
    rental_id = _rent(owner).json()["id"]
    rental_provision(rental_id)
    assert Rental.objects.get(pk=rental_id).state == "provisioning"
    _after_read(monkeypatch, RentalViewSet, _poll_until_running)

    response = owner.client.post(f"/api/v1/rentals/{rental_id}/terminate")

    assert response.status_code == 202 and response.json()["state"] == "terminating"
    rental = drive_rental(rental_id)
    assert rental.state == "terminated"
    assert _sim_nodes(sim_catalog, rental.partner.slug) == []


def test_terminating_a_failed_rental_is_409_saying_why(owner):
    rental_id = _rent(owner).json()["id"]
    rental_services.rental_fail(Rental.objects.get(pk=rental_id), "no capacity anywhere")
    response = owner.client.post(f"/api/v1/rentals/{rental_id}/terminate")
    assert response.status_code == 409 and "no capacity anywhere" in response.json()["detail"]


def _deployment(owner, state="pending") -> Deployment:
    return Deployment.objects.create(workspace=owner.workspace, name="chat", model="gpu-broker/tiny-cpu-chat",
                                     state=state, request={"gpu": None, "gpus_per_node": 1, "nodes": 1})


def test_delete_lands_when_the_control_loop_moves_the_deployment_after_the_view_read_it(owner, monkeypatch):
    deployment = _deployment(owner)
    _after_read(monkeypatch, DeploymentViewSet,
                lambda pk: transition(Deployment.objects.get(pk=pk), "provisioning", reason="renting nodes"))

    response = owner.client.delete(f"/api/v1/deployments/{deployment.pk}")

    assert response.status_code == 202
    assert Deployment.objects.get(pk=deployment.pk).state == "terminating"


def test_a_replica_is_never_added_to_a_deployment_deleted_meanwhile(owner):
    stale = _deployment(owner)  # the control loop read it before the delete
    deployment_delete(Deployment.objects.get(pk=stale.pk), actor="owner")
    assert _add_replica(stale) is None
    assert not Replica.objects.exists() and not Rental.objects.exists()


def test_a_resumed_launch_that_loses_to_the_poll_keeps_the_running_rentals_nodes(owner, monkeypatch, sim_catalog):
    rental_id = _rent(owner).json()["id"]
    rental_provision(rental_id)  # launched; the worker then dies before polling
    real_adapter_for = rental_services.adapter_for

    class PollWinsDuringProvision:
        def __init__(self, partner):
            self.inner = real_adapter_for(partner)

        def provision(self, spec):
            info = self.inner.provision(spec)  # idempotent: the node launched before
            _poll_until_running(rental_id)
            return info

        def __getattr__(self, name):
            return getattr(self.inner, name)

    monkeypatch.setattr(rental_services, "adapter_for", PollWinsDuringProvision)
    rental_provision(rental_id)  # resumed by reconciliation

    rental = Rental.objects.get(pk=rental_id)
    node = Node.objects.get(rental=rental)
    assert rental.state == "running" and node.state == "running"
    assert [n["id"] for n in _sim_nodes(sim_catalog, rental.partner.slug)] == [node.provider_ref]


def test_reconciliation_fails_a_running_rental_without_a_running_node(owner, sim_catalog):
    rental = drive_rental(_rent(owner).json()["id"])
    assert rental.state == "running"
    Node.objects.filter(rental=rental).update(state="terminated")  # what a lost race used to leave behind

    assert reconcile_all()["nodeless"] == 1

    rental.refresh_from_db()
    assert rental.state == "failed" and "0 of 1 node(s) running" in rental.failure_reason
