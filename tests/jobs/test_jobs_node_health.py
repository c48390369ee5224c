"""A run's node the health agent reports unhealthy restarts the job off it; a degraded one is only noted."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from jobs.models import Job, JobRun
from jobs.services.jobs import job_reconcile
from marketplace.matching import PlacementRequest
from marketplace.models import Node, NodeState, Rental, RentalState
from marketplace.services.node_health import node_health_record
from tests.marketplace.node_health_helpers import make_partner, report

REQUEST = PlacementRequest.from_dict({"nodes": 2}).to_dict()
FATAL_XID = "GPU 0: Xid 79 (GPU has fallen off the bus)"


def _running_job(owner, *, max_retries: int) -> tuple[Job, Rental, list[Node]]:
    job = Job.objects.create(workspace=owner.workspace, name="train", command=["true"], workers=2,
                             request=REQUEST, state="running", started_at=timezone.now(),
                             max_retries=max_retries)
    rental = Rental.objects.create(workspace=owner.workspace, request=REQUEST, request_hash="h0", nodes_count=2,
                                   state=RentalState.RUNNING, max_hours=Decimal(4), locked_price_per_hour=Decimal(1),
                                   running_since=timezone.now() - timedelta(minutes=30))
    JobRun.objects.create(job=job, restart=0, rental=rental)
    partner = make_partner()
    nodes = [Node.objects.create(rental=rental, partner=partner, index=i, state=NodeState.RUNNING,
                                 provider_ref=f"i-{i}") for i in range(2)]
    return job, rental, nodes


def _report_unhealthy(node: Node, django_capture_on_commit_callbacks) -> int:
    """The agent's heartbeat with a fatal Xid; returns how many tasks it asked for after commit."""
    with django_capture_on_commit_callbacks() as callbacks:
        node_health_record(node=node, report=report("unhealthy", "reboot", [FATAL_XID]))
    return len(callbacks)


def test_an_unhealthy_node_restarts_the_job_on_a_fresh_rental_and_ends_the_old_one(
        owner, real_catalog, django_capture_on_commit_callbacks):
    job, rental, nodes = _running_job(owner, max_retries=1)
    assert _report_unhealthy(nodes[1], django_capture_on_commit_callbacks) == 1  # the job's loop, after commit

    job_reconcile(job.pk)
    job.refresh_from_db()
    rental.refresh_from_db()
    assert (job.state, job.restart_count) == ("restarting", 1)
    assert rental.state == "terminating" and rental.events.last().actor == "job"
    restarting = job.events.get(from_state="running", to_state="restarting")
    assert f"node {nodes[1].pk}" in restarting.reason and FATAL_XID in restarting.reason
    assert "restart 1 of 1" in restarting.reason
    second = JobRun.objects.get(job=job, restart=1).rental
    assert second.pk != rental.pk and second.request == rental.request  # the same request and policy

    job_reconcile(job.pk)  # the old rental ending is not a second loss
    job.refresh_from_db()
    assert (job.state, job.restart_count) == ("restarting", 1)


def test_an_unhealthy_node_with_no_retry_left_fails_the_job_and_stops_its_nodes(
        owner, django_capture_on_commit_callbacks):
    job, rental, nodes = _running_job(owner, max_retries=0)
    _report_unhealthy(nodes[0], django_capture_on_commit_callbacks)

    job_reconcile(job.pk)
    job.refresh_from_db()
    rental.refresh_from_db()
    assert (job.state, job.failure_kind, rental.state) == ("failed", "node_lost", "terminating")
    assert f"node {nodes[0].pk}" in job.failure_reason and FATAL_XID in job.failure_reason
    assert "no restart left (max_retries 0)" in job.failure_reason


def test_a_degraded_node_is_a_job_event_and_the_job_keeps_running(owner):
    job, rental, nodes = _running_job(owner, max_retries=1)
    node_health_record(node=nodes[0], report=report("degraded", "inspect", ["GPU 0 thermal throttling"]))

    assert job_reconcile(job.pk)
    job.refresh_from_db()
    rental.refresh_from_db()
    assert (job.state, job.restart_count, rental.state) == ("running", 0, "running")
    assert job.events.filter(reason__contains="GPU 0 thermal throttling").filter(
        reason__contains="keeps running").exists()


@pytest.mark.parametrize("state", ["succeeded", "cancelling"])
def test_a_node_turning_unhealthy_after_the_job_is_done_changes_nothing(owner, state,
                                                                        django_capture_on_commit_callbacks):
    job, rental, nodes = _running_job(owner, max_retries=1)
    Job.objects.filter(pk=job.pk).update(state=state)
    assert _report_unhealthy(nodes[0], django_capture_on_commit_callbacks) == 0
    job_reconcile(job.pk)
    job.refresh_from_db()
    assert (job.state, job.restart_count) == (state, 0)
