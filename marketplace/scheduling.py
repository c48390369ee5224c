"""The one way services ask for background work: a registered task's name, sent after the transaction commits.

Services never import task modules (tasks import services), so there is no services ↔ tasks cycle.
`apply_async` honours `task_always_eager`, so eager test runs execute the task in-process at commit.
"""

from functools import partial

from celery import current_app
from django.db import transaction


def enqueue(task_name: str, *args: object, countdown: float | None = None) -> None:
    """Run the task called `task_name` with `args` once the current transaction commits (at once outside one)."""
    transaction.on_commit(partial(_send, task_name, args, countdown))


def _send(task_name: str, args: tuple, countdown: float | None) -> None:
    current_app.tasks[task_name].apply_async(args, countdown=countdown)
