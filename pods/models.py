"""Dev pods (DESIGN §12): one interactive GPU node with the user's SSH key and, optionally, JupyterLab."""

from django.db import models

from marketplace.models import Rental, Workspace
from marketplace.models.events import StateEvent


class PodState(models.TextChoices):
    PENDING = "pending"
    PROVISIONING = "provisioning"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    TERMINATING = "terminating"
    TERMINATED = "terminated"
    FAILED = "failed"


class Pod(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="pods")
    created_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL)
    name = models.SlugField(max_length=63)
    state = models.CharField(max_length=16, choices=PodState.choices, default=PodState.PENDING)
    request = models.JSONField(default=dict, help_text="the placement request the pod's node obeys")
    max_hours = models.DecimalField(max_digits=8, decimal_places=2, default=24)
    ssh_public_key = models.TextField(help_text="OpenSSH public key installed for the node's login user")
    jupyter = models.BooleanField(default=False)
    image = models.CharField(max_length=512, blank=True, default="", help_text="JupyterLab image, pinned by digest")
    idle_timeout_minutes = models.PositiveIntegerField(default=60, help_text="0 = never stopped for idleness")
    jupyter_token_hash = models.CharField(max_length=64, blank=True, default="")
    jupyter_token_salt = models.CharField(max_length=32, blank=True, default="")
    rental = models.OneToOneField(Rental, null=True, blank=True, on_delete=models.PROTECT, related_name="pod")
    idempotency_key = models.CharField(max_length=128, null=True, blank=True)
    request_hash = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    state_changed_at = models.DateTimeField(auto_now_add=True)
    running_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="pod_unique_live_name",
                                    condition=~models.Q(state__in=["terminated", "failed"])),
            models.UniqueConstraint(fields=["workspace", "idempotency_key"], name="pod_idempotency",
                                    condition=models.Q(idempotency_key__isnull=False)),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.state})"


class PodEvent(StateEvent):
    pod = models.ForeignKey(Pod, on_delete=models.CASCADE, related_name="events")
