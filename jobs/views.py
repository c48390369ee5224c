"""Dashboard pages: the workspace's jobs, and a job's page (live log tail, per-worker exit codes, timeline)."""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from jobs.flows import JOB_FLOW
from jobs.models import Job, JobLogChunk
from jobs.services.jobs import job_cancel, job_cost
from marketplace.models import Role
from marketplace.views.access import is_htmx, workspace_required

POLL_SECONDS = 2
TAIL_CHUNKS = 40


def _job_or_404(request: HttpRequest, job_id: int) -> Job:
    job = (Job.objects.filter(workspace=request.access.workspace, pk=job_id)
           .prefetch_related("events", "runs__rental", "runs__workers").first())
    if job is None:
        raise Http404("no such job in this workspace")
    return job


@workspace_required()
@require_GET
def job_list(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    jobs = list(Job.objects.filter(workspace=request.access.workspace).prefetch_related("runs__rental")[:200])
    rows = [(job, job_cost(job, now=now)) for job in jobs]
    return render(request, "jobs/jobs.html", {"rows": rows, "section": "jobs"})


def log_tail(job: Job) -> list[JobLogChunk]:
    """The last chunks of the job's output, oldest first."""
    return list(reversed(JobLogChunk.objects.filter(job=job).order_by("-id")[:TAIL_CHUNKS]))


@workspace_required()
@require_GET
def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    """The full page, or (htmx poll) its live part, which polls while the job is live."""
    job = _job_or_404(request, job_id)
    context = {"job": job, "live": job.state not in JOB_FLOW.final, "poll_seconds": POLL_SECONDS,
               "workers": [w for run in job.runs.all() for w in run.workers.all()], "tail": log_tail(job),
               "cost": job_cost(job), "section": "jobs"}
    template = "jobs/partials/_job_live.html" if is_htmx(request) else "jobs/job.html"
    response = render(request, template, context)
    response["Cache-Control"] = "no-store"
    return response


@workspace_required(min_role=Role.MEMBER)
@require_POST
def job_cancel_view(request: HttpRequest, job_id: int) -> HttpResponse:
    job = job_cancel(_job_or_404(request, job_id), actor=request.user.username)
    messages.info(request, f"Job {job.name} is {job.state}.")
    return redirect("jobs:job", job_id=job.pk)
