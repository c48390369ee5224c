"""Pod tasks: the idle sweep (beat)."""

from celery import shared_task

from pods.services.pods import pods_idle_stop


@shared_task(ignore_result=True)
def pods_idle_sweep_task() -> None:
    pods_idle_stop()
