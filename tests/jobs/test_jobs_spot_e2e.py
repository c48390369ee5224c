"""Spot jobs on simulated partners running the real launch plan: a worker's node preempted mid-run restarts the
job under the same request and policy (spot first, on demand only with spot_fallback), billed to the second."""

from datetime import timedelta

import requests
from django.utils import timezone

from jobs.models import Job, JobRun
from marketplace.models import Node, Rental
from marketplace.services.metering import rental_cost
from marketplace.services.preemption import spot_rentals_watch
from tests.jobs.conftest import drive_until_nodes_gone, job_body, settle
from tests.marketplace.conftest import SIM_PARTNERS

# Run 0 waits (until a node is taken back); the restart prints what it got and succeeds.
SPOT_WORKER = "import os, time\nrestart = os.environ['GPUB_RESTART_COUNT']\n" \
              "print(f\"worker {os.environ['NODE_RANK']} GPUB_RESTART_COUNT={restart}\", flush=True)\n" \
              "if restart == '0':\n    time.sleep(600)\n"


def _control(server, slug: str, **changes) -> None:
    assert requests.post(f"{server.url}/_control/{slug}", json=changes, timeout=5).status_code == 200


def _no_node_alive(server) -> bool:
    return all(server.store.list_nodes(slug) == [] for slug in SIM_PARTNERS)


def _running_spot_job(owner, **fields) -> tuple[Job, Rental]:
    body = job_body(command=["python3", "-c", SPOT_WORKER], spot=True, **fields)
    response = owner.client.post("/api/v1/jobs", body, format="json")
    assert response.status_code == 202, response.content
    job = settle(response.json()["id"], lambda j: j.state in ("running", "failed"))
    assert job.state == "running", job.failure_reason
    rental = JobRun.objects.get(job=job, restart=0).rental
    assert rental.spot and rental.nodes_count == 2
    return job, rental


def _preempt_worker(server, rental: Rental, index: int = 1) -> tuple:
    """The partner takes worker `index`'s node back; the spot watch finds it. Returns the window it happened in."""
    node = Node.objects.get(rental=rental, index=index, state="running")
    before = timezone.now()
    _control(server, node.partner.slug, preempt=node.provider_ref)
    after = timezone.now()
    assert spot_rentals_watch()["preempted"] == 1
    return before, after


def _moves(job_id: int) -> list[str]:
    return [e.to_state for e in Job.objects.get(pk=job_id).events.all() if e.from_state and e.from_state != e.to_state]


def _logs(owner, job_id: int) -> str:
    return b"".join(owner.client.get(f"/api/v1/jobs/{job_id}/logs").streaming_content).decode()


def test_a_spot_job_completes_after_a_worker_node_is_preempted_mid_run(owner, live_partners):
    job, first = _running_spot_job(owner, max_retries=1)
    settle(job.pk, lambda j: _logs(owner, j.pk).count("GPUB_RESTART_COUNT=0") == 2)  # both workers run
    before, after = _preempt_worker(live_partners, first)

    job = settle(job.pk, lambda j: j.state != "running")
    assert (job.state, job.restart_count) == ("restarting", 1)
    job = settle(job.pk, lambda j: j.state in ("succeeded", "failed"))
    assert job.state == "succeeded", job.failure_reason
    assert _moves(job.pk) == ["provisioning", "running", "restarting", "running", "succeeded"]
    restarting = job.events.get(from_state="running", to_state="restarting").reason
    assert f"spot preemption of rental {first.pk}" in restarting and "restart 1 of 1" in restarting
    assert job.events.filter(reason__contains=f"recovering preempted rental {first.pk}").exists()
    logs = _logs(owner, job.pk)
    assert "[0] worker 0 GPUB_RESTART_COUNT=1" in logs and "[1] worker 1 GPUB_RESTART_COUNT=1" in logs

    first.refresh_from_db()
    second = JobRun.objects.get(job=job, restart=1).rental
    assert first.state == "preempted" and before <= first.ended_at <= after
    assert rental_cost(first, now=timezone.now() + timedelta(hours=1)) == rental_cost(first, now=first.ended_at)
    assert second.replaces_id == first.pk and second.spot and second.request == first.request
    usage = owner.client.get("/api/v1/usage").json()
    assert usage["preemptions"] == {"preemptions": 1, "recovered": 1}
    drive_until_nodes_gone(job.pk)
    assert _no_node_alive(live_partners)


def test_a_preemption_with_no_retry_left_fails_the_job_saying_so(owner, live_partners):
    job, first = _running_spot_job(owner, max_retries=0)
    _preempt_worker(live_partners, first, index=0)
    job = settle(job.pk, lambda j: j.state in ("succeeded", "failed"))
    assert (job.state, job.failure_kind, job.restart_count) == ("failed", "node_lost", 0)
    assert f"spot preemption of rental {first.pk}" in job.failure_reason
    assert "no restart left (max_retries 0)" in job.failure_reason
    assert not JobRun.objects.filter(job=job, restart=1).exists()
    drive_until_nodes_gone(job.pk)
    assert _no_node_alive(live_partners)


def test_with_spot_fallback_a_restart_finding_no_spot_capacity_runs_on_demand_and_says_so(owner, live_partners):
    policy = {"partners": {"allow": ["verda", "lambda"], "deny": []}}  # Lambda sells no spot
    job, first = _running_spot_job(owner, max_retries=1, spot_fallback=True, policy=policy)
    assert first.partner.slug == "verda"
    _preempt_worker(live_partners, first)
    _control(live_partners, "verda", capacity=0)  # the partner has no spot node left

    job = settle(job.pk, lambda j: j.state in ("succeeded", "failed"))
    assert job.state == "succeeded", job.failure_reason
    second = JobRun.objects.get(job=job, restart=1).rental
    assert not second.spot and second.partner.slug == "lambda"  # on demand, still inside the policy
    assert second.replaces_id == first.pk and second.request == first.request
    assert second.locked_price_per_hour == second.on_demand_price_per_hour
    fell_back = job.events.get(reason__contains="spot_fallback").reason
    assert "run 1" in fell_back and "on-demand price" in fell_back
    assert "GPUB_RESTART_COUNT=1" in _logs(owner, job.pk)
    drive_until_nodes_gone(job.pk)
    assert _no_node_alive(live_partners)


def test_without_spot_fallback_a_restart_finding_no_spot_capacity_fails_the_job_for_capacity(owner, live_partners):
    policy = {"partners": {"allow": ["verda", "lambda"], "deny": []}}
    job, first = _running_spot_job(owner, max_retries=1, policy=policy)
    _preempt_worker(live_partners, first)
    _control(live_partners, "verda", capacity=0)
    job = settle(job.pk, lambda j: j.state in ("succeeded", "failed"))
    assert (job.state, job.failure_kind) == ("failed", "no_capacity")
    assert not Rental.objects.filter(replaces=first, spot=False).exists()  # never on demand
    drive_until_nodes_gone(job.pk)
    assert _no_node_alive(live_partners)
