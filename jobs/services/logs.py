"""Reading a job's logs (whole, or followed until the job ends) and deleting them after their retention."""

import time
from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from jobs.flows import JOB_FLOW
from jobs.models import Job, JobLogChunk

PAGE = 500
FOLLOW_POLL_S = 0.5


def _chunks(job: Job, worker: int | None, after_id: int):
    chunks = JobLogChunk.objects.filter(job=job, id__gt=after_id).order_by("id")
    if worker is not None:
        chunks = chunks.filter(worker=worker)
    return list(chunks.only("id", "worker", "data")[:PAGE])


def log_text(job: Job, *, worker: int | None = None, follow: bool = False, poll_s: float = FOLLOW_POLL_S,
             sleep=time.sleep) -> Iterator[str]:
    """The job's output in arrival order. With several workers and no `worker`, each line starts `[N] `.

    `follow` keeps reading until the job has ended and everything written before that was read."""
    prefixed = worker is None and job.workers > 1
    at_line_start: dict[int, bool] = {}
    last_id, ended = 0, False
    while True:
        chunks = _chunks(job, worker, last_id)
        for chunk in chunks:
            last_id = chunk.id
            yield _prefix(chunk, at_line_start) if prefixed else chunk.data
        if chunks:
            continue
        if not follow or ended:
            return
        ended = Job.objects.filter(pk=job.pk, state__in=JOB_FLOW.final).exists()  # one more read after this
        if not ended:
            sleep(poll_s)


def _prefix(chunk: JobLogChunk, at_line_start: dict[int, bool]) -> str:
    tag = f"[{chunk.worker}] "
    lines = chunk.data.splitlines(keepends=True)
    out = [(tag if (i or at_line_start.get(chunk.worker, True)) else "") + line for i, line in enumerate(lines)]
    at_line_start[chunk.worker] = chunk.data.endswith("\n")
    return "".join(out)


def logs_prune(*, now=None) -> int:
    """Delete the logs of jobs that ended longer ago than their retention: `ttl_after_finished_s`, else
    JOB_LOG_RETENTION_DAYS. Returns how many chunks were deleted."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.JOB_LOG_RETENTION_DAYS)
    deleted, _ = JobLogChunk.objects.filter(job__ttl_after_finished_s__isnull=True, job__ended_at__lt=cutoff).delete()
    for job in Job.objects.filter(ttl_after_finished_s__isnull=False, ended_at__isnull=False,
                                  log_chunks__isnull=False).distinct():
        if job.ended_at + timedelta(seconds=job.ttl_after_finished_s) < now:
            deleted += job.log_chunks.all().delete()[0]
    return deleted
