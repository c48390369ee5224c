"""Batch jobs (DESIGN §11): a command run to completion on gang-placed nodes, its runs, workers and logs."""

from django.db import models

from marketplace.models import Node, Rental, Workspace
from marketplace.models.events import StateEvent


class JobState(models.TextChoices):
    PENDING = "pending"
    PROVISIONING = "provisioning"
    RUNNING = "running"
    RESTARTING = "restarting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"


class JobTemplate(models.TextChoices):
    NONE = "none"
    TORCHRUN = "torchrun"
    MPI = "mpi"


class FailureKind(models.TextChoices):
    """Why a failed job failed; `brokerctl job run --wait` turns it into its exit code."""

    NONE = ""
    WORKER_EXIT = "worker_exit"  # a worker exited non-zero (its code is the job's exit_code)
    NO_CAPACITY = "no_capacity"  # no placement under the request and policy could be started
    TIMEOUT = "timeout"  # max_hours passed
    NODE_LOST = "node_lost"  # a node ended under the job after the last retry
    ERROR = "error"  # the broker refused (budget …)


class Job(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="jobs")
    created_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    name = models.SlugField(max_length=63)
    image = models.CharField(max_length=255, blank=True, default="")
    command = models.JSONField(default=list, help_text="argv")
    env = models.JSONField(default=dict, help_text="name → value, or {'secret': ref} for a workspace secret")
    template = models.CharField(max_length=16, choices=JobTemplate.choices, default=JobTemplate.NONE)
    workers = models.PositiveSmallIntegerField(default=1)
    request = models.JSONField(default=dict, help_text="placement request and policy every run obeys")
    max_retries = models.PositiveSmallIntegerField(default=0)
    max_hours = models.DecimalField(max_digits=8, decimal_places=2, default=24)
    ttl_after_finished_s = models.PositiveIntegerField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=JobState.choices, default=JobState.PENDING)
    restart_count = models.PositiveSmallIntegerField(default=0)
    exit_code = models.IntegerField(null=True, blank=True)
    failure_kind = models.CharField(max_length=16, choices=FailureKind.choices, blank=True, default="")
    failure_reason = models.TextField(blank=True, default="")
    idempotency_key = models.CharField(max_length=128, null=True, blank=True)
    request_hash = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    state_changed_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True, help_text="first time every worker ran")
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "idempotency_key"], name="job_idempotency",
                                               condition=models.Q(idempotency_key__isnull=False))]
        indexes = [models.Index(fields=["state", "ended_at"], name="job_state_ended")]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.state})"


class JobEvent(StateEvent):
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="events")


class JobRun(models.Model):
    """One placement of the job: the first run, then one per restart (restart = GPUB_RESTART_COUNT)."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="runs")
    restart = models.PositiveSmallIntegerField()
    rental = models.OneToOneField(Rental, on_delete=models.PROTECT, related_name="job_run")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "restart"], name="job_run_unique_restart")]
        ordering = ["restart"]


class JobWorker(models.Model):
    """Worker `index` of one run, on the node of the same index; exit code once it has exited."""

    run = models.ForeignKey(JobRun, on_delete=models.CASCADE, related_name="workers")
    index = models.PositiveSmallIntegerField()
    node = models.ForeignKey(Node, null=True, on_delete=models.SET_NULL, related_name="+")
    ready_at = models.DateTimeField(null=True, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    exited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="job_worker_unique_index")]
        ordering = ["run__restart", "index"]


class JobLogChunk(models.Model):
    """A bounded piece of one worker's output (stdout and stderr as they interleaved), in arrival order."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="log_chunks")
    restart = models.PositiveSmallIntegerField()
    worker = models.PositiveSmallIntegerField()
    seq = models.PositiveIntegerField(help_text="the worker's chunk number: a resent chunk is stored once")
    data = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "restart", "worker", "seq"], name="job_log_unique_seq")]
        ordering = ["id"]
