"""What jobs does when marketplace announces a change (connected in JobsConfig.ready())."""

from jobs.services.jobs import (
    job_note_node_health,
    job_note_preemption_notice,
    job_note_rental_running,
    job_wake_for_rental,
)
from marketplace.models import RentalState


def on_rental_state_changed(sender, *, instance, to_state: str, **kwargs) -> None:
    """Any move of a run's rental (running, ended, preempted …) may change what its job must do."""
    if to_state == RentalState.RUNNING:
        job_note_rental_running(instance.pk)
    job_wake_for_rental(instance.pk)


def on_preemption_noticed(sender, *, rental_id: int, preempt_at, **kwargs) -> None:
    """A run's spot node will be taken back: the job's events say when."""
    job_note_preemption_notice(rental_id, preempt_at)


def on_node_health_changed(sender, *, node_id: int, rental_id: int, new_health: str, **kwargs) -> None:
    """A run's node turned degraded (noted) or unhealthy (the job restarts off it)."""
    job_note_node_health(rental_id, node_id, new_health)
