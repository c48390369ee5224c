"""Fleets (a workspace's own machines), their machines and the work assigned to each machine."""

from django.db import models

from marketplace.models import HealthState, Node, Partner, Workspace
from marketplace.models.catalog import PRICE_DIGITS
from marketplace.models.events import StateEvent


class Fleet(models.Model):
    """A workspace's machines, sold to that workspace alone through its own private partner row."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="fleets")
    partner = models.OneToOneField(Partner, on_delete=models.PROTECT, related_name="fleet")
    name = models.CharField(max_length=64)
    price_per_gpu_hour = models.DecimalField(**PRICE_DIGITS, default=0, help_text="internal price, USD")
    join_token_hash = models.CharField(max_length=64, blank=True, default="")
    join_token_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="fleet_unique_name")]
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"fleet {self.name}"


class MachineState(models.TextChoices):
    JOINING = "joining"
    READY = "ready"
    CORDONED = "cordoned"
    DRAINING = "draining"
    OFFLINE = "offline"
    REMOVED = "removed"


class Machine(models.Model):
    """One machine of a fleet, as its agent registered it (inventory and declared location)."""

    fleet = models.ForeignKey(Fleet, on_delete=models.CASCADE, related_name="machines")
    hostname = models.CharField(max_length=255)
    ip = models.CharField(max_length=64, blank=True, default="")
    state = models.CharField(max_length=16, choices=MachineState.choices, default=MachineState.JOINING)
    state_changed_at = models.DateTimeField(auto_now_add=True)
    gpu = models.CharField(max_length=32, blank=True, default="", help_text="canonical model; empty = no GPU")
    gpu_name = models.CharField(max_length=128, blank=True, default="", help_text="as NVML names it")
    gpu_count = models.PositiveSmallIntegerField(default=0)
    gpu_memory_gb = models.PositiveIntegerField(default=0)
    vcpus = models.PositiveIntegerField(default=0)
    memory_gb = models.FloatField(default=0)
    country = models.CharField(max_length=2, blank=True, default="")
    region = models.CharField(max_length=64, blank=True, default="")
    simulated = models.BooleanField(default=False, help_text="the inventory was declared, not read from NVML")
    health = models.CharField(max_length=16, choices=HealthState.choices, default=HealthState.UNKNOWN)
    health_reason = models.TextField(blank=True, default="")
    token_hash = models.CharField(max_length=64)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["fleet_id", "id"]

    def __str__(self) -> str:
        return f"machine {self.pk} ({self.hostname})"


class MachineEvent(StateEvent):
    machine = models.ForeignKey(Machine, on_delete=models.CASCADE, related_name="events")


class WorkState(models.TextChoices):
    ASSIGNED = "assigned"  # waiting for the machine's agent to pull it
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


class Work(models.Model):
    """One node's launch on one machine: what the agent pulls, runs and reports on."""

    machine = models.ForeignKey(Machine, on_delete=models.CASCADE, related_name="works")
    node = models.ForeignKey(Node, null=True, on_delete=models.SET_NULL, related_name="+")
    idempotency_key = models.CharField(max_length=128, unique=True)
    instance_type = models.CharField(max_length=128)
    region_code = models.CharField(max_length=128)
    tags = models.JSONField(default=dict)
    plan_encrypted = models.TextField(blank=True, default="", help_text="the launch plan (holds the node token)")
    state = models.CharField(max_length=16, choices=WorkState.choices, default=WorkState.ASSIGNED)
    state_changed_at = models.DateTimeField(auto_now_add=True)
    exit_code = models.IntegerField(null=True, blank=True)
    log = models.TextField(blank=True, default="", help_text="the tail of the plan's output, as the agent sent it")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    @property
    def ref(self) -> str:
        return f"work-{self.pk}"


class WorkEvent(StateEvent):
    work = models.ForeignKey(Work, on_delete=models.CASCADE, related_name="events")
