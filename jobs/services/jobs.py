"""Jobs: accept, place every run under the same request and policy, restart on a lost node, end, cancel.

`job_reconcile` is the control loop (idempotent), woken by the run's rental changing state and run
periodically; the workers' own reports (rendezvous, exit codes) are in `services.workers`. A job's rental
is ended by the job only once the job is final, cancelling or restarting, so a run's rental that leaves
the states it is used in while the job still counts on it ended under the job (node lost, failed,
preempted, expired): the job restarts, up to `max_retries`, or fails. A run's node the health agent
reports `unhealthy` is lost too, though its rental still runs: the job ends that rental itself and restarts.
"""

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs.flows import JOB_CANCELLABLE, JOB_FLOW, JOB_PLACED
from jobs.inputs import JobInput
from jobs.models import FailureKind, Job, JobRun, JobState
from marketplace.errors import DomainError, InvalidInput
from marketplace.flows import RENTAL_FLOW, RENTAL_TERMINABLE
from marketplace.matching import PlacementRequest, match
from marketplace.models import HealthState, Node, NodeState, Rental, RentalState, Workspace
from marketplace.scheduling import enqueue
from marketplace.selectors.offer_index import get_offer_index
from marketplace.services.metering import rental_cost
from marketplace.services.rentals import (
    IdempotencyConflict,
    NoPlacement,
    RentalInput,
    rental_create,
    rental_terminate,
    request_hash,
)
from marketplace.states import record_event, transition

J = JobState
ACTOR = "job"
EXPIRY_ACTOR = "max_hours"  # who ends a rental at its max_hours (marketplace.services.rentals.rentals_expire)
RECONCILE_TASK = "jobs.tasks.job_reconcile_task"
# The states in which a run's rental serves the job; any other (ended, ending, preempted …) means it is lost.
RENTAL_IN_USE = frozenset({RentalState.PENDING, RentalState.PROVISIONING, RentalState.RUNNING})


def job_create(*, workspace: Workspace, user, data: JobInput, idempotency_key: str | None = None,
               body_hash: str = "") -> tuple[Job, bool]:
    """Accept a job (202) when some placement can ever run it; provisioning runs async.

    The same Idempotency-Key with the same body returns the first job; with another body it is refused."""
    if idempotency_key and (existing := _by_key(workspace, idempotency_key)):
        return _same_request_or_conflict(existing, body_hash), False
    if any(isinstance(v, dict) for v in data.env.values()) and not workspace.ngc_api_key_encrypted:
        names = [name for name, v in data.env.items() if isinstance(v, dict)]
        raise InvalidInput({f"env.{name}": ["the workspace has no NGC API key stored"] for name in names})
    result = match(data.request, get_offer_index(), limit=1)
    if not result.placements:
        raise NoPlacement(result.explanation)
    try:
        with transaction.atomic():
            job = Job.objects.create(
                workspace=workspace, created_by=user if getattr(user, "pk", None) else None, name=data.name,
                image=data.image, command=data.command, env=data.env, template=data.template, workers=data.workers,
                request=data.request.to_dict(), max_retries=data.max_retries, max_hours=data.max_hours,
                ttl_after_finished_s=data.ttl_after_finished_s, idempotency_key=idempotency_key or None,
                request_hash=body_hash)
            what = f"{data.workers} worker(s), template {data.template}, {data.image or 'no image'}"
            record_event(job, f"requested: {what}", actor=getattr(user, "username", "api"), created=True)
            enqueue_reconcile(job.pk)
    except IntegrityError:  # a concurrent create won the key
        return _same_request_or_conflict(_by_key(workspace, idempotency_key), body_hash), False
    return job, True


def _by_key(workspace: Workspace, key: str) -> Job | None:
    return Job.objects.filter(workspace=workspace, idempotency_key=key).first()


def _same_request_or_conflict(job: Job, body_hash: str) -> Job:
    if job.request_hash != body_hash:
        raise IdempotencyConflict("this Idempotency-Key was used with a different request body")
    return job


def enqueue_reconcile(job_id: int, *, countdown: float | None = None) -> None:
    enqueue(RECONCILE_TASK, job_id, countdown=countdown)


def job_wake_for_rental(rental_id: int) -> None:
    """A run's rental changed: run its job's control loop now."""
    job_id = JobRun.objects.filter(rental_id=rental_id).values_list("job_id", flat=True).first()
    if job_id is not None:
        enqueue_reconcile(job_id)


def job_note_rental_running(rental_id: int) -> None:
    """A run's rental placed on demand for a spot request (spot_fallback): the job's events say so."""
    run = JobRun.objects.filter(rental_id=rental_id).select_related("job", "rental").first()
    if run is None or run.rental.spot or not run.job.request.get("spot"):
        return
    record_event(run.job, f"run {run.restart}: no spot placement left under the policy; placed on demand "
                          f"(spot_fallback), billed at the on-demand price ${run.rental.locked_price_per_hour}/h")


def job_note_preemption_notice(rental_id: int, preempt_at) -> None:
    """The partner announced it takes a run's spot node back: recorded on the job, which restarts once it goes.

    A running job cannot move live to another node, so restarting ahead of the notice would only lose the
    work done until the preemption second; the job keeps running and restarts when the rental ends."""
    run = JobRun.objects.filter(rental_id=rental_id).select_related("job").first()
    if run is None or run.job.state in JOB_FLOW.final or run.restart != run.job.restart_count:
        return
    job = run.job
    then = (f"the job restarts then (restart {job.restart_count + 1} of {job.max_retries})"
            if job.restart_count < job.max_retries else f"no restart left (max_retries {job.max_retries})")
    record_event(job, f"preemption notice: the partner takes rental {rental_id}'s spot node back at "
                      f"{preempt_at.isoformat()}; {then}")


def job_note_node_health(rental_id: int, node_id: int, health: str) -> None:
    """A run's node turned degraded (a job event; it keeps running) or unhealthy (the control loop restarts it).

    Degraded (throttling, correctable errors) still computes: a restart would throw the work done away.
    Unhealthy (a fatal Xid, a lost GPU, a silent agent) will not finish the work, so the job leaves it."""
    run = JobRun.objects.filter(rental_id=rental_id).select_related("job").first()
    if run is None or run.job.state not in JOB_PLACED or run.restart != run.job.restart_count:
        return
    if health == HealthState.UNHEALTHY:
        enqueue_reconcile(run.job_id)
    elif health == HealthState.DEGRADED:
        reason = Node.objects.filter(pk=node_id).values_list("health_reason", flat=True).first()
        record_event(run.job, f"node {node_id} degraded ({reason or 'no reason given'}); the job keeps running")


def current_run(job: Job) -> JobRun | None:
    return JobRun.objects.filter(job=job, restart=job.restart_count).select_related("rental").first()


def job_reconcile(job_id: int, *, now=None) -> bool:
    """One pass of the control loop; True when nothing is in progress that needs another pass soon."""
    now = now or timezone.now()
    job = Job.objects.select_related("workspace").get(pk=job_id)
    if job.state in JOB_FLOW.final:
        return True
    if job.state == J.PENDING:
        _start_run(job, restart=0)
        return False
    if job.state == J.CANCELLING:
        return _finish_cancel(job, now)
    if job.started_at and now - job.started_at > timedelta(hours=float(job.max_hours)):
        job_finish(job, J.FAILED, kind=FailureKind.TIMEOUT, reason=f"reached max_hours ({job.max_hours} h)")
        return True
    run = current_run(job)
    if run is None:  # a restart whose new run could not be created: try again
        _start_run(job, restart=job.restart_count)
        return False
    if run.rental.state in RENTAL_IN_USE:
        if job.state != J.RUNNING and _workers_late(run.rental, now):
            late = f"the workers did not all start within {settings.PROVISION_TIMEOUT_S} s of the nodes running"
            job_finish(job, J.FAILED, kind=FailureKind.ERROR, reason=late)
            return True
        if node := _unhealthy_node(run.rental):
            _leave_unhealthy(job, run.rental, node)
            return False
        return job.state == J.RUNNING
    _run_lost(job, run.rental)
    return False


def _workers_late(rental: Rental, now) -> bool:
    """The nodes run but not every worker has asked for the rendezvous in time (a plan that cannot start)."""
    return (rental.state == RentalState.RUNNING and rental.running_since is not None
            and (now - rental.running_since).total_seconds() > settings.PROVISION_TIMEOUT_S)


def _unhealthy_node(rental: Rental) -> Node | None:
    return rental.nodes.filter(state=NodeState.RUNNING, health=HealthState.UNHEALTHY).order_by("index").first()


def _leave_unhealthy(job: Job, rental: Rental, node: Node) -> None:
    """End the run on an unhealthy node (the job ends its rental) and restart, or fail with no retry left.

    The matching engine places on offers (a partner's node shape), not on machines, so the next run cannot
    exclude the machine itself; the partner hands out a fresh VM, and the unhealthy node lowers the
    partner's reliability (`partner_reliability_refresh`)."""
    why = (f"node {node.pk} (worker {node.index}, rental {rental.pk}) unhealthy: "
           f"{node.health_reason or 'no reason given'} (repair: {node.health_repair})")
    if job.restart_count >= job.max_retries:
        job_finish(job, J.FAILED, kind=FailureKind.NODE_LOST,
                   reason=f"{why}; no restart left (max_retries {job.max_retries})")
        return
    restart = job.restart_count + 1
    with transaction.atomic():
        if not transition(job, J.RESTARTING, reason=f"{why}; restart {restart} of {job.max_retries}",
                          restart_count=restart):
            return
        rental_terminate(rental, reason=f"job {job.name}: {why}", actor=ACTOR)
    _start_run(job, restart=restart)


def _run_lost(job: Job, rental: Rental) -> None:
    last = rental.events.order_by("at", "id").last()
    why = rental.failure_reason or (last.reason if last else f"rental {rental.state}")
    preempted = rental.state == RentalState.PREEMPTED
    if preempted:
        why = f"spot preemption of rental {rental.pk} at {rental.ended_at.isoformat(timespec='seconds')} ({why})"
    if rental.events.filter(actor=EXPIRY_ACTOR).exists():
        job_finish(job, J.FAILED, kind=FailureKind.TIMEOUT, reason=f"reached max_hours ({job.max_hours} h)")
    elif rental.running_since is None:
        job_finish(job, J.FAILED, kind=FailureKind.NO_CAPACITY, reason=f"no placement could be started: {why}")
    elif job.restart_count < job.max_retries:
        restart = job.restart_count + 1
        if transition(job, J.RESTARTING, reason=f"{why}; restart {restart} of {job.max_retries}",
                      restart_count=restart):
            _start_run(job, restart=restart)
    else:
        retries = f" after {job.max_retries} restart(s)" if job.max_retries else ""
        if preempted:
            retries += f"; no restart left (max_retries {job.max_retries})"
        job_finish(job, J.FAILED, kind=FailureKind.NODE_LOST, reason=f"{why}{retries}")


def _start_run(job: Job, *, restart: int) -> None:
    """Rent the job's nodes (one rental, gang-placed) under its stored request and policy.

    A run after a preempted one names it (`replaces`: usage counts the preemption recovered); the rental
    places spot first and on demand only when the request has `spot_fallback` (`marketplace.spot`)."""
    request = PlacementRequest.from_dict(job.request)
    replaces = (JobRun.objects.filter(job=job, restart=restart - 1, rental__state=RentalState.PREEMPTED)
                .values_list("rental_id", flat=True).first())
    body = {**job.request, "max_hours": str(job.max_hours), "job": job.pk, "restart": restart, "replaces": replaces}
    try:
        with transaction.atomic():
            if not Job.objects.select_for_update().filter(pk=job.pk, state__in=(J.PENDING, J.RESTARTING)).exists():
                return  # cancelled meanwhile
            rental, _ = rental_create(workspace=job.workspace, user=None, body_hash=request_hash(body),
                                      data=RentalInput(request=request, max_hours=job.max_hours, replaces_id=replaces))
            JobRun.objects.create(job=job, restart=restart, rental=rental)
            reason = f"renting {job.workers} node(s): rental {rental.pk}"
            if replaces:
                reason += f", recovering preempted rental {replaces} under the same request and policy"
            if job.state == J.PENDING:
                transition(job, J.PROVISIONING, reason=reason)
            else:
                record_event(job, f"run {restart}: {reason}")
    except NoPlacement as exc:
        excluded = ", ".join(f"{rule} {count}" for rule, count in exc.explanation.excluded.items() if count)
        job_finish(job, J.FAILED, kind=FailureKind.NO_CAPACITY,
                   reason=f"no placement satisfies the job's request and policy ({excluded or 'none left'})")
    except DomainError as exc:  # budget and the like
        job_finish(job, J.FAILED, kind=FailureKind.ERROR, reason=str(exc))


def job_finish(job: Job, to: str, *, reason: str, kind: str = "", exit_code: int | None = None,
               actor: str = ACTOR) -> bool:
    """End the job (succeeded or failed) and terminate its nodes at once: nobody pays for an idle node."""
    fields = {"ended_at": timezone.now(), "failure_kind": kind, "exit_code": exit_code}
    if to == J.FAILED:
        fields["failure_reason"] = reason
    if not transition(job, to, reason=reason, actor=actor, **fields):
        return False
    _release_nodes(job, f"job {job.name} {to}")
    return True


def _release_nodes(job: Job, reason: str) -> None:
    for run in JobRun.objects.filter(job=job).select_related("rental"):
        if run.rental.state in RENTAL_TERMINABLE:
            rental_terminate(run.rental, reason=reason, actor=ACTOR)


def job_cancel(job: Job, *, actor: str) -> Job:
    """Cancel from whatever live state the job is in now; it ends `cancelled` once its nodes are gone."""
    while job.state in JOB_CANCELLABLE:
        if transition(job, J.CANCELLING, reason=f"cancelled by {actor}", actor=actor):
            _release_nodes(job, f"job {job.name} cancelled")
            enqueue_reconcile(job.pk)
            return job
        job.refresh_from_db()
    return job


def _finish_cancel(job: Job, now) -> bool:
    _release_nodes(job, f"job {job.name} cancelled")
    if JobRun.objects.filter(job=job).exclude(rental__state__in=RENTAL_FLOW.final).exists():
        return False
    transition(job, J.CANCELLED, reason="every node terminated", ended_at=now)
    return True


def job_cost(job: Job, *, now=None) -> Decimal:
    """What the job's nodes cost: each run's running time × its locked price."""
    now = now or timezone.now()
    return sum((rental_cost(run.rental, now=now) for run in job.runs.all()), Decimal(0))


def live_jobs():
    return Job.objects.exclude(state__in=JOB_FLOW.final)
