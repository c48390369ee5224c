"""Node health history: one row per change of a node's health state."""

from django.db import models

from .rentals import HealthState, Node, Repair

__all__ = ["HealthState", "NodeHealthEvent", "Repair"]


class NodeHealthEvent(models.Model):
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="health_events")
    at = models.DateTimeField(auto_now_add=True)
    from_state = models.CharField(max_length=16)
    to_state = models.CharField(max_length=16, choices=HealthState.choices)
    repair = models.CharField(max_length=32, choices=Repair.choices, default=Repair.NONE)
    reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["at", "id"]
