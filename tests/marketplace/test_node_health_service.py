"""Node health services: tokens, recording heartbeats, the stale-heartbeat sweep, partner reliability."""

from datetime import timedelta

import pytest
from django.utils import timezone

from marketplace.models import Node, NodeHealthEvent, NodeState, Partner, RentalAttempt
from marketplace.secrets import hash_token
from marketplace.services.node_health import (
    node_health_record,
    node_health_sweep,
    node_token_check,
    node_token_issue,
    partner_reliability_refresh,
)

from .node_health_helpers import make_node, make_partner, report

pytestmark = pytest.mark.django_db


@pytest.fixture
def node(owner):
    return make_node(owner.workspace)


def transitions(node):
    return list(NodeHealthEvent.objects.filter(node=node).values_list("from_state", "to_state", "repair"))


def test_token_is_stored_only_as_its_hash(node):
    token = node_token_issue(node)
    node.refresh_from_db()

    assert node.token_hash == hash_token(token) and token not in node.token_hash
    assert node_token_check(node, token)
    assert not node_token_check(node, token + "x") and not node_token_check(node, "")


def test_the_token_is_stable_for_a_resumed_launch_and_unique_per_node(node):
    first = node_token_issue(node)
    again = node_token_issue(node)  # a launch resumed after a worker died renders the same plan
    other = Node.objects.create(rental=node.rental, partner=node.partner, index=1, idempotency_key="other-key")

    assert first == again and node_token_check(node, first)
    assert node_token_issue(other) != first and not node_token_check(other, first)


def test_node_without_a_token_accepts_none(node):
    assert not node_token_check(node, "anything")


def test_heartbeat_stores_the_latest_state(node):
    node_health_record(node=node, report=report("unhealthy", "reboot", ["Xid 79 on GPU 0"]))
    node.refresh_from_db()

    assert (node.health, node.health_repair, node.health_reason) == ("unhealthy", "reboot", "Xid 79 on GPU 0")
    assert node.health_report["gpus"][0]["uuid"] == "GPU-a"
    assert node.last_heartbeat_at is not None


def test_event_rows_only_when_the_state_changes(node):
    for state in ("healthy", "healthy", "degraded", "degraded", "healthy"):
        node_health_record(node=node, report=report(state))

    assert transitions(node) == [("unknown", "healthy", "none"), ("healthy", "degraded", "none"),
                                 ("degraded", "healthy", "none")]


def heard(node, at):
    node_health_record(node=node, report=report("healthy"), now=at)


def test_sweep_marks_a_quiet_node_unknown_then_unhealthy(node, settings):
    settings.HEARTBEAT_UNKNOWN_AFTER_S, settings.HEARTBEAT_UNHEALTHY_AFTER_S = 120, 600
    t0 = timezone.now()
    heard(node, t0)

    assert node_health_sweep(t0 + timedelta(seconds=100)) == {"unhealthy": 0, "unknown": 0}
    assert node_health_sweep(t0 + timedelta(seconds=121)) == {"unhealthy": 0, "unknown": 1}
    assert node_health_sweep(t0 + timedelta(seconds=300)) == {"unhealthy": 0, "unknown": 0}
    assert node_health_sweep(t0 + timedelta(seconds=601)) == {"unhealthy": 1, "unknown": 0}
    assert node_health_sweep(t0 + timedelta(seconds=900)) == {"unhealthy": 0, "unknown": 0}

    node.refresh_from_db()
    assert (node.health, node.health_repair) == ("unhealthy", "replace")
    assert "no heartbeat for 601 s" in node.health_reason
    assert transitions(node)[1:] == [("healthy", "unknown", "none"), ("unknown", "unhealthy", "replace")]


def test_sweep_keeps_an_agent_reported_unhealthy_node_until_it_is_stale(node, settings):
    settings.HEARTBEAT_UNKNOWN_AFTER_S, settings.HEARTBEAT_UNHEALTHY_AFTER_S = 120, 600
    t0 = timezone.now()
    node_health_record(node=node, report=report("unhealthy", "reboot"), now=t0)

    node_health_sweep(t0 + timedelta(seconds=300))
    node.refresh_from_db()
    assert (node.health, node.health_repair) == ("unhealthy", "reboot")

    node_health_sweep(t0 + timedelta(seconds=700))
    node.refresh_from_db()
    assert node.health_repair == "replace"


def test_sweep_ignores_nodes_not_running_and_nodes_never_heard_from(owner, settings):
    t0 = timezone.now()
    terminated = make_node(owner.workspace, state=NodeState.TERMINATED, index=1)
    heard(terminated, t0 - timedelta(hours=1))
    make_node(owner.workspace, index=2)

    assert node_health_sweep(t0) == {"unhealthy": 0, "unknown": 0}


def test_sweep_works_in_bounded_batches(owner):
    t0 = timezone.now()
    for index in range(5):
        heard(make_node(owner.workspace, index=index), t0 - timedelta(hours=1))

    assert node_health_sweep(t0, batch=2)["unhealthy"] == 2
    assert node_health_sweep(t0, batch=2)["unhealthy"] == 2
    assert node_health_sweep(t0, batch=2)["unhealthy"] == 1


def attempt(node, outcome, started_at):
    row = RentalAttempt.objects.create(rental=node.rental, partner_slug=node.partner.slug, region_code="r",
                                       instance_type="p5", outcome=outcome)
    RentalAttempt.objects.filter(pk=row.pk).update(started_at=started_at)


def test_reliability_counts_unhealthy_nodes_and_failed_attempts_in_the_window(owner):
    acme, steady = make_partner("acme-cloud"), make_partner("steady-cloud")
    nodes = [make_node(owner.workspace, acme, index=i) for i in range(3)]
    make_node(owner.workspace, steady)
    node_health_record(node=nodes[0], report=report("unhealthy", "reboot"))
    node_health_record(node=nodes[0], report=report("healthy"))
    node_health_record(node=nodes[0], report=report("unhealthy", "reboot"))  # the same node counts once
    now = timezone.now()
    for outcome in ("succeeded", "failed", "failed", "succeeded", "succeeded"):
        attempt(nodes[1], outcome, now - timedelta(days=1))
    attempt(nodes[1], "failed", now - timedelta(days=30))  # outside the window

    scores = partner_reliability_refresh(window_days=7, now=now)

    # acme: (1 unhealthy node + 2 failed attempts) / (3 nodes + 5 attempts)
    assert scores == {"acme-cloud": 0.625, "steady-cloud": 1.0}
    assert Partner.objects.get(slug="acme-cloud").reliability == 0.625


def test_reliability_without_activity_is_perfect():
    make_partner("quiet-cloud")

    assert partner_reliability_refresh() == {"quiet-cloud": 1.0}


def test_old_unhealthy_events_fall_out_of_the_window(node):
    node_health_record(node=node, report=report("unhealthy", "reboot"))
    NodeHealthEvent.objects.update(at=timezone.now() - timedelta(days=10))

    assert partner_reliability_refresh()["acme-cloud"] == 1.0


def test_tasks_call_the_services(owner, settings):
    from marketplace.tasks.health import node_health_sweep_task, partner_reliability_task

    heard(make_node(owner.workspace, index=7), timezone.now() - timedelta(hours=2))

    assert node_health_sweep_task() == {"unhealthy": 1, "unknown": 0}
    assert partner_reliability_task() == {"acme-cloud": 0.0}
