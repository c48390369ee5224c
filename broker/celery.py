"""The Celery app: a SQLite file queue by default (no server), Redis with CELERY_BROKER_URL."""

import os

from celery import Celery
from celery.signals import beat_init, worker_init
from django.conf import settings
from kombu.transport import TRANSPORT_ALIASES

from broker.startup import require_own_secrets

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "broker.settings")

TRANSPORT_ALIASES.setdefault("sqlite", "broker.sqlite_transport:Transport")
app = Celery("broker")
app.config_from_object("django.conf:settings", namespace="CELERY")


def _configure_sqlite_transport() -> None:
    if settings.CELERY_BROKER_URL.startswith("sqlite"):
        app.conf.broker_transport_options = {"polling_interval": settings.QUEUE_POLL_S,
                                             "lease_s": settings.QUEUE_LEASE_S}


_configure_sqlite_transport()
app.autodiscover_tasks()


def _beat_schedule() -> dict:
    return {
        "reconcile": {"task": "marketplace.tasks.rentals.reconcile_task", "schedule": settings.RECONCILE_INTERVAL_S},
        "expire-rentals": {"task": "marketplace.tasks.rentals.expire_rentals_task", "schedule": 30.0},
        "spot-watch": {"task": "marketplace.tasks.rentals.spot_watch_task", "schedule": settings.SPOT_WATCH_S},
        "budgets": {"task": "marketplace.tasks.rentals.budget_enforce_task", "schedule": 60.0},
        "deployments": {"task": "nim_launcher.tasks.deployments_sweep_task", "schedule": 15.0},
        "jobs": {"task": "jobs.tasks.jobs_sweep_task", "schedule": 30.0},
        "pods-idle": {"task": "pods.tasks.pods_idle_sweep_task", "schedule": 30.0},
        "partner-sync": {"task": "marketplace.tasks.partners.sync_all_partners_task",
                         "schedule": settings.PARTNER_SYNC_INTERVAL_S},
        "node-health": {"task": "marketplace.tasks.health.node_health_sweep_task", "schedule": 30.0},
        "partner-reliability": {"task": "marketplace.tasks.health.partner_reliability_task", "schedule": 600.0},
        "fleet-machines": {"task": "fleets.tasks.machines_offline_sweep_task", "schedule": 15.0},
    }


app.conf.beat_schedule = _beat_schedule()


@worker_init.connect
@beat_init.connect
def _check_secrets(**_) -> None:
    require_own_secrets()
