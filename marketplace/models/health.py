"""Node health history: one row per change of a node's health state."""

from django.db import models

from .rentals import Node


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


class NodeHealthEvent(models.Model):
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="health_events")
    at = models.DateTimeField(auto_now_add=True)
    from_state = models.CharField(max_length=16)
    to_state = models.CharField(max_length=16, choices=HealthState.choices)
    repair = models.CharField(max_length=32, choices=Repair.choices, default=Repair.NONE)
    reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["at", "id"]
