"""Deployments (a NIM endpoint over rented nodes) and their replicas."""

from django.db import models

from marketplace.models import Rental, Workspace
from marketplace.models.events import StateEvent


class DeploymentState(models.TextChoices):
    PENDING = "pending"
    PROVISIONING = "provisioning"
    STARTING = "starting"
    READY = "ready"
    DEGRADED = "degraded"
    TERMINATING = "terminating"
    TERMINATED = "terminated"
    FAILED = "failed"


class Deployment(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="deployments")
    name = models.SlugField(max_length=63)
    model = models.CharField(max_length=128, help_text="NIM model id")
    profile = models.CharField(max_length=64, blank=True, default="")
    replicas_min = models.PositiveSmallIntegerField(default=1)
    replicas_max = models.PositiveSmallIntegerField(default=1)
    replicas_desired = models.PositiveSmallIntegerField(default=1, help_text="set by the autoscaler within min..max")
    request = models.JSONField(default=dict, help_text="placement request/policy the replicas obey")
    max_hours = models.DecimalField(max_digits=8, decimal_places=2, default=24)
    state = models.CharField(max_length=16, choices=DeploymentState.choices, default=DeploymentState.PENDING)
    idempotency_key = models.CharField(max_length=128, null=True, blank=True)
    request_hash = models.CharField(max_length=64, blank=True, default="", help_text="of the create request body")
    created_at = models.DateTimeField(auto_now_add=True)
    state_changed_at = models.DateTimeField(auto_now_add=True)
    last_scaled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "name"], name="deployment_unique_live_name",
                condition=~models.Q(state__in=["terminated", "failed"]),
            ),
            models.UniqueConstraint(fields=["workspace", "idempotency_key"], name="deployment_idempotency",
                                    condition=models.Q(idempotency_key__isnull=False)),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.state})"


class DeploymentEvent(StateEvent):
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="events")


class ReplicaState(models.TextChoices):
    PROVISIONING = "provisioning"
    STARTING = "starting"
    READY = "ready"
    TERMINATING = "terminating"
    TERMINATED = "terminated"
    FAILED = "failed"


class Replica(models.Model):
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="replicas")
    rental = models.OneToOneField(Rental, on_delete=models.PROTECT, related_name="replica")
    state = models.CharField(max_length=16, choices=ReplicaState.choices, default=ReplicaState.PROVISIONING)
    endpoint = models.URLField(blank=True, default="", help_text="base URL of the NIM HTTP server")
    created_at = models.DateTimeField(auto_now_add=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["created_at", "id"]


class ReplicaEvent(StateEvent):
    replica = models.ForeignKey(Replica, on_delete=models.CASCADE, related_name="events")
