"""What jobs does when marketplace announces a change (connected in JobsConfig.ready())."""

from jobs.services.jobs import job_wake_for_rental


def on_rental_state_changed(sender, *, instance, to_state: str, **kwargs) -> None:
    """Any move of a run's rental (running, ended, preempted …) may change what its job must do."""
    job_wake_for_rental(instance.pk)
