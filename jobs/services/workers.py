"""What a job's workers report through their node agent (node token): rendezvous, output, exit code.

Worker `i` runs on the node of index `i` of the run's rental. The rendezvous answers once every worker
has asked and every node runs with an address: worker 0's address is MASTER_ADDR. A worker that exits
non-zero fails the job with its code; the job succeeds when every worker that runs the command exited 0
(for `mpi`, worker 0's `mpirun`).
"""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from jobs.flows import JOB_FLOW
from jobs.models import FailureKind, Job, JobLogChunk, JobRun, JobState, JobTemplate, JobWorker
from jobs.services.jobs import job_finish
from marketplace.models import Node, NodeState, RentalState
from marketplace.states import transition

J = JobState
MASTER_PORT = 29500
LOG_CHUNK_MAX_CHARS = 64 * 1024
RETRY_AFTER_S = 0.5


@dataclass(frozen=True)
class Rendezvous:
    """`env` and `hosts` once every worker is up; `waiting` until then; `over` when the run is not the job's."""

    env: dict | None = None
    hosts: list | None = None
    waiting: bool = False
    over: bool = False


def _run_of(node: Node) -> JobRun | None:
    """The job run this node works for, while the node is live and the run is the job's current one."""
    if node.state not in (NodeState.PROVISIONING, NodeState.RUNNING):
        return None
    run = JobRun.objects.filter(rental_id=node.rental_id).select_related("job", "rental__offer").first()
    if run is None or run.job.state in JOB_FLOW.final or run.job.state == J.CANCELLING \
            or run.restart != run.job.restart_count:
        return None
    return run


def worker_rendezvous(node: Node) -> Rendezvous:
    run = _run_of(node)
    if run is None:
        return Rendezvous(over=True)
    job = run.job
    worker, _ = JobWorker.objects.get_or_create(run=run, index=node.index, defaults={"node": node})
    if worker.ready_at is None:
        JobWorker.objects.filter(pk=worker.pk).update(ready_at=timezone.now(), node=node)
    nodes = list(run.rental.nodes.filter(state=NodeState.RUNNING).exclude(ip="").order_by("index"))
    ready = JobWorker.objects.filter(run=run, ready_at__isnull=False).count()
    if run.rental.state != RentalState.RUNNING or len(nodes) < job.workers or ready < job.workers:
        return Rendezvous(waiting=True)
    if job.state in (J.PROVISIONING, J.RESTARTING):
        transition(job, J.RUNNING, reason=f"all {job.workers} worker(s) up (restart {run.restart})",
                   started_at=job.started_at or timezone.now())
    gpus = run.rental.offer.gpus_per_node if run.rental.offer else 1
    env = {"GPUB_JOB_ID": str(job.pk), "GPUB_JOB_NAME": job.name, "GPUB_WORKER_INDEX": str(node.index),
           "GPUB_WORKERS": str(job.workers), "GPUB_RESTART_COUNT": str(run.restart),
           "MASTER_ADDR": nodes[0].ip, "MASTER_PORT": str(MASTER_PORT), "NNODES": str(job.workers),
           "NODE_RANK": str(node.index), "NPROC_PER_NODE": str(gpus), "WORLD_SIZE": str(job.workers * gpus)}
    return Rendezvous(env=env, hosts=[n.ip for n in nodes])


def worker_log(node: Node, *, seq: int, data: str) -> bool:
    """Store one chunk of the worker's output (a resent seq is stored once); False when no job owns the node.

    A chunk is taken even after the node was terminated: the tail a stopping worker still sends is kept."""
    run = JobRun.objects.filter(rental_id=node.rental_id).only("job_id", "restart").first()
    if run is None:
        return False
    JobLogChunk.objects.get_or_create(job_id=run.job_id, restart=run.restart, worker=node.index, seq=seq,
                                      defaults={"data": data})
    return True


def worker_exited(node: Node, *, exit_code: int) -> bool:
    """Record the worker's exit status and end the job when it decides it; False when the run is over."""
    run = _run_of(node)
    if run is None:
        return False
    with transaction.atomic():  # the job's row lock orders the workers' reports: exactly one ends the job
        job = Job.objects.select_for_update().get(pk=run.job_id)
        worker, _ = JobWorker.objects.get_or_create(run=run, index=node.index, defaults={"node": node})
        if worker.exit_code is None:
            JobWorker.objects.filter(pk=worker.pk).update(exit_code=exit_code, exited_at=timezone.now())
        if job.state in JOB_FLOW.final or job.state == J.CANCELLING or run.rental.state != RentalState.RUNNING:
            return True  # decided already, or the node goes away under the worker (the control loop restarts)
        if exit_code != 0:
            job_finish(job, J.FAILED, kind=FailureKind.WORKER_EXIT, exit_code=exit_code,
                       reason=f"worker {node.index} exited with status {exit_code}")
            return True
        needed = 1 if job.template == JobTemplate.MPI else job.workers
        if JobWorker.objects.filter(run=run, exit_code=0).count() >= needed:
            job_finish(job, J.SUCCEEDED, exit_code=0, reason=f"every worker exited 0 (restart {run.restart})")
    return True
