"""Fleet background work: the offline sweep (beat)."""

from celery import shared_task

from fleets.services.machines import machines_offline_sweep


@shared_task(ignore_result=True)
def machines_offline_sweep_task() -> int:
    """Mark machines whose agent went silent offline; their work fails over."""
    return machines_offline_sweep()
