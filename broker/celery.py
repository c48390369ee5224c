"""The Celery app: filesystem transport by default (no server), Redis with CELERY_BROKER_URL."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "broker.settings")

app = Celery("broker")
app.config_from_object("django.conf:settings", namespace="CELERY")


def _configure_filesystem_transport() -> None:
    from django.conf import settings

    if not settings.CELERY_BROKER_URL.startswith("filesystem"):
        return
    queue_dir = settings.CELERY_QUEUE_DIR
    for sub in ("out", "processed"):
        (queue_dir / sub).mkdir(parents=True, exist_ok=True)
    app.conf.broker_transport_options = {
        "data_folder_in": str(queue_dir / "out"),
        "data_folder_out": str(queue_dir / "out"),
        "processed_folder": str(queue_dir / "processed"),
        "store_processed": False,
    }


_configure_filesystem_transport()
app.autodiscover_tasks()
