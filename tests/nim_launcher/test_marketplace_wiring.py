"""How nim_launcher plugs into marketplace without marketplace importing it: hooks and signal receivers."""

import pytest

from marketplace.hooks import rental_owners
from marketplace.models import NodeLaunch, Partner, RentalState
from marketplace.services.launch import launch_ports, render_user_data
from marketplace.services.node_health import node_health_record
from marketplace.states import transition
from nim_launcher.models import Replica
from nim_launcher.plans.context import NIM_PORT
from nim_launcher.profiles import TINY_CHAT_MODEL
from nim_launcher.services import deployments
from providers.base import PortRule, ProviderError
from tests.marketplace.node_health_helpers import make_node, report
from tests.nim_launcher.conftest import make_deployment


@pytest.fixture
def replica_node(owner):
    node = make_node(owner.workspace)
    deployment = make_deployment(owner.workspace, "chat", model=TINY_CHAT_MODEL)
    Replica.objects.create(deployment=deployment, rental=node.rental)
    return node


@pytest.fixture
def woken(monkeypatch) -> list:
    calls = []
    monkeypatch.setattr(deployments, "enqueue", lambda name, *args, **kw: calls.append((name, args)))
    return calls


def test_a_plain_rental_launches_with_no_plan(owner):
    node = make_node(owner.workspace)
    assert render_user_data(node.rental, node) == ""


def test_a_replica_launches_its_nim_server_in_the_form_its_partner_takes(replica_node):
    Partner.objects.filter(pk=replica_node.partner_id).update(node_launch=NodeLaunch.LOCAL_PROCESS)
    replica_node.partner.refresh_from_db()
    plan = render_user_data(replica_node.rental, replica_node)
    assert plan.startswith("exec ") and "nim_launcher.runtime" in plan and "$PORT" in plan


def test_a_replica_opens_ssh_and_the_nim_port_the_latter_to_the_gateway_only(owner, replica_node, settings):
    settings.GATEWAY_SOURCE_CIDR = "203.0.113.7/32"
    assert launch_ports(replica_node.rental) == (PortRule(22), PortRule(NIM_PORT, "203.0.113.7/32"))
    assert launch_ports(make_node(owner.workspace, index=1).rental) == (PortRule(22),)


def test_a_launch_kind_without_a_renderer_fails_the_attempt_with_a_clear_error(replica_node):
    Partner.objects.filter(pk=replica_node.partner_id).update(node_launch="kubernetes")  # a row from before
    replica_node.partner.refresh_from_db()
    with pytest.raises(ProviderError) as error:
        render_user_data(replica_node.rental, replica_node)
    assert error.value.kind == "invalid_request" and "'kubernetes'" in error.value.message


def test_rental_owners_name_the_deployment_and_link_its_page(owner, replica_node):
    plain = make_node(owner.workspace, index=1).rental
    owners = rental_owners([replica_node.rental_id, plain.pk])
    deployment = replica_node.rental.replica.deployment
    assert set(owners) == {replica_node.rental_id}
    owner_row = owners[replica_node.rental_id]
    assert (owner_row.kind, owner_row.name, owner_row.url) == ("deployment", "chat", f"/deployments/{deployment.pk}/")


def test_a_replicas_rental_that_terminates_wakes_its_deployment(replica_node, woken):
    rental = replica_node.rental
    assert transition(rental, RentalState.TERMINATING, reason="test")
    assert woken == []  # terminating changes nothing for the deployment yet
    assert transition(rental, RentalState.TERMINATED, reason="test")
    assert woken == [(deployments.RECONCILE_TASK, (rental.replica.deployment_id,))]


def test_an_unhealthy_node_wakes_the_deployment_of_its_replica(replica_node, woken):
    node_health_record(node=replica_node, report=report("unhealthy", "replace", ["GPU 0 fell off the bus"]))
    assert woken == [(deployments.RECONCILE_TASK, (replica_node.rental.replica.deployment_id,))]


def test_a_plain_rentals_changes_wake_nothing(owner, woken):
    node = make_node(owner.workspace)
    node_health_record(node=node, report=report("unhealthy", "replace", ["GPU 0 fell off the bus"]))
    transition(node.rental, RentalState.TERMINATING, reason="test")
    assert woken == []
