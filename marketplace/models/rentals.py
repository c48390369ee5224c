"""Rentals (leases of N nodes of one offer), their events, attempts and nodes."""

from django.db import models

from .accounts import Workspace
from .catalog import PRICE_DIGITS, Offer, Partner
from .events import StateEvent


class RentalState(models.TextChoices):
    PENDING = "pending"
    PROVISIONING = "provisioning"
    RUNNING = "running"
    STOPPED = "stopped"
    TERMINATING = "terminating"
    TERMINATED = "terminated"
    FAILED = "failed"
    PREEMPTED = "preempted"  # the partner took a spot node back: the rental ended, billed up to that second


class Rental(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="rentals")
    created_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL)
    request = models.JSONField()
    request_hash = models.CharField(max_length=64)
    idempotency_key = models.CharField(max_length=128, null=True, blank=True)
    offer = models.ForeignKey(Offer, null=True, blank=True, on_delete=models.SET_NULL, related_name="rentals")
    partner = models.ForeignKey(Partner, null=True, blank=True, on_delete=models.SET_NULL, related_name="rentals")
    region_code = models.CharField(max_length=128, blank=True, default="")
    nodes_count = models.PositiveSmallIntegerField(default=1)
    reserved_nodes = models.PositiveSmallIntegerField(default=0, help_text="capacity held on the offer")
    reserved_at = models.DateTimeField(null=True, blank=True)
    locked_price_per_hour = models.DecimalField(**PRICE_DIGITS, null=True, blank=True)
    spot = models.BooleanField(default=False, help_text="launched as spot (the locked price is a spot price)")
    on_demand_price_per_hour = models.DecimalField(
        **PRICE_DIGITS, null=True, blank=True, help_text="the same offer's on-demand price for all nodes, at lock")
    replaces = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replaced_by",
                                 help_text="the preempted rental this one recovers")
    preempt_at = models.DateTimeField(null=True, blank=True, help_text="the partner's announced preemption time")
    state = models.CharField(max_length=16, choices=RentalState.choices, default=RentalState.PENDING)
    failure_reason = models.TextField(blank=True, default="")
    max_hours = models.DecimalField(max_digits=8, decimal_places=2)
    ssh_public_key = models.TextField(blank=True, default="")
    user_data = models.TextField(blank=True, default="", help_text="launch plan passed to the partner")
    created_at = models.DateTimeField(auto_now_add=True)
    running_since = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    pauses = models.JSONField(default=list, blank=True,
                              help_text="[[stopped at, started again at or null], …] (ISO): not billed")
    state_changed_at = models.DateTimeField(auto_now_add=True)
    lease_until = models.DateTimeField(null=True, blank=True, help_text="a worker owns provisioning until then")
    budget_warned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "idempotency_key"], name="rental_idempotency",
                                    condition=models.Q(idempotency_key__isnull=False)),
        ]
        indexes = [models.Index(fields=["state", "state_changed_at"], name="rental_state")]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"rental {self.pk} ({self.state})"


class RentalEvent(StateEvent):
    rental = models.ForeignKey(Rental, on_delete=models.CASCADE, related_name="events")


class AttemptOutcome(models.TextChoices):
    STARTED = "started"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class RentalAttempt(models.Model):
    """One try of one placement: what was tried and how it ended."""

    rental = models.ForeignKey(Rental, on_delete=models.CASCADE, related_name="attempts")
    offer = models.ForeignKey(Offer, null=True, on_delete=models.SET_NULL)
    partner_slug = models.CharField(max_length=64)
    region_code = models.CharField(max_length=128)
    instance_type = models.CharField(max_length=128)
    spot = models.BooleanField(default=False)
    started_at = models.DateTimeField(auto_now_add=True)
    outcome = models.CharField(max_length=16, choices=AttemptOutcome.choices, default=AttemptOutcome.STARTED)
    error_kind = models.CharField(max_length=32, blank=True, default="")
    error_message = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["started_at", "id"]


class NodeState(models.TextChoices):
    PROVISIONING = "provisioning"
    RUNNING = "running"
    STOPPED = "stopped"
    TERMINATING = "terminating"
    TERMINATED = "terminated"
    FAILED = "failed"
    PREEMPTED = "preempted"


class HealthState(models.TextChoices):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"
    UNKNOWN = "unknown"


class Repair(models.TextChoices):
    NONE = "none"
    REBOOT = "reboot"
    HARDWARE_INSPECTION = "hardware_inspection"
    CHECK_APP = "check_app"
    REPLACE = "replace"


class Node(models.Model):
    rental = models.ForeignKey(Rental, on_delete=models.CASCADE, related_name="nodes")
    attempt = models.ForeignKey(RentalAttempt, null=True, on_delete=models.CASCADE, related_name="nodes")
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="nodes")
    index = models.PositiveSmallIntegerField(default=0)
    idempotency_key = models.CharField(max_length=128, blank=True, default="")
    endpoint = models.CharField(max_length=256, blank=True, default="", help_text="base URL of the node's service")
    provider_ref = models.CharField(max_length=128, blank=True, default="")
    region_code = models.CharField(max_length=128, blank=True, default="")
    ip = models.CharField(max_length=64, blank=True, default="")
    ssh_user = models.CharField(max_length=32, default="ubuntu")
    ssh_port = models.PositiveIntegerField(default=22)
    state = models.CharField(max_length=16, choices=NodeState.choices, default=NodeState.PROVISIONING)
    health = models.CharField(max_length=16, choices=HealthState.choices, default=HealthState.UNKNOWN)
    health_repair = models.CharField(max_length=32, choices=Repair.choices, blank=True, default="")
    health_reason = models.TextField(blank=True, default="")
    health_report = models.JSONField(default=dict, blank=True)
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True,
                                            help_text="last time the agent saw someone use the node")
    token_hash = models.CharField(max_length=64, blank=True, default="")
    launch_plan = models.TextField(blank=True, default="", help_text="the launch plan as sent, secrets redacted")
    # Nodes of partners whose create call takes no user data: the plan is handed over by SSH once the node runs.
    ssh_host_key = models.CharField(max_length=128, blank=True, default="",
                                    help_text="the host key fingerprint the node presented first (trusted on first use)")
    plan_delivered_at = models.DateTimeField(null=True, blank=True, help_text="when the plan was handed over by SSH")
    created_at = models.DateTimeField(auto_now_add=True)
    terminated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["attempt", "index"], name="node_unique_index")]
        indexes = [models.Index(fields=["partner", "provider_ref"], name="node_partner_ref")]
        ordering = ["rental_id", "id"]

    @property
    def ssh(self) -> str:
        if not self.ip:
            return ""
        port = f" -p {self.ssh_port}" if self.ssh_port != 22 else ""
        return f"ssh{port} {self.ssh_user}@{self.ip}"


class NodeEvent(StateEvent):
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="events")
