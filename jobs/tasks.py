"""Job tasks: the control loop, re-run until steady, and the periodic sweep (timeouts, log retention)."""

from celery import shared_task

from jobs.services import jobs, logs

RECONCILE_AGAIN_S = 2


@shared_task(ignore_result=True)
def job_reconcile_task(job_id: int) -> None:
    if not jobs.job_reconcile(job_id):
        jobs.enqueue_reconcile(job_id, countdown=RECONCILE_AGAIN_S)


@shared_task(ignore_result=True)
def jobs_sweep_task() -> None:
    for job_id in jobs.live_jobs().values_list("pk", flat=True):
        jobs.enqueue_reconcile(job_id)
    logs.logs_prune()
