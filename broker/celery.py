"""The Celery app: filesystem transport by default (no server), Redis with CELERY_BROKER_URL."""

import os

from celery import Celery
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "broker.settings")

app = Celery("broker")
app.config_from_object("django.conf:settings", namespace="CELERY")


def _configure_filesystem_transport() -> None:
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


def _beat_schedule() -> dict:
    return {
        "reconcile": {"task": "marketplace.tasks.rentals.reconcile_task", "schedule": settings.RECONCILE_INTERVAL_S},
        "expire-rentals": {"task": "marketplace.tasks.rentals.expire_rentals_task", "schedule": 30.0},
        "budgets": {"task": "marketplace.tasks.rentals.budget_enforce_task", "schedule": 60.0},
        "deployments": {"task": "nim_launcher.tasks.deployments_sweep_task", "schedule": 15.0},
        "partner-sync": {"task": "marketplace.tasks.partners.sync_all_partners_task",
                         "schedule": settings.PARTNER_SYNC_INTERVAL_S},
        "node-health": {"task": "marketplace.tasks.health.node_health_sweep_task", "schedule": 30.0},
        "partner-reliability": {"task": "marketplace.tasks.health.partner_reliability_task", "schedule": 600.0},
    }


app.conf.beat_schedule = _beat_schedule()
