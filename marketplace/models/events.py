"""The event row every state machine writes on each transition (DESIGN §4)."""

from django.db import models


class StateEvent(models.Model):
    at = models.DateTimeField(auto_now_add=True)
    from_state = models.CharField(max_length=16, blank=True, default="")
    to_state = models.CharField(max_length=16, blank=True, default="")
    reason = models.TextField(blank=True, default="")
    actor = models.CharField(max_length=64, default="system")

    class Meta:
        abstract = True
        ordering = ["at", "id"]
