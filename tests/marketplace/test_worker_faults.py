"""Fault test with real processes: a Celery worker on Redis is SIGKILLed mid-provisioning.

After a new worker and reconciliation, the nodes running at the partners equal the broker's running nodes
exactly (zero leaked, zero lost) and every rental is running or final.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db import connection

from broker.celery import app as celery_app
from marketplace.models import Node, Rental
from marketplace.placement import parse_placement_request
from marketplace.services.reconcile import reconcile_all
from marketplace.services.rentals import RentalInput, rental_create, request_hash
from tests.marketplace.conftest import SIM_PARTNERS

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
REPO = Path(__file__).resolve().parents[2]
BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
if not BROKER_URL.startswith("redis"):
    BROKER_URL = "redis://127.0.0.1:6379/7"
RENTALS = 6


@pytest.fixture
def redis_broker():
    """Send this test's tasks through Redis (the suite's default is an in-memory queue)."""
    previous = celery_app.conf.broker_url
    _switch_broker(BROKER_URL)
    celery_app.control.purge()
    yield BROKER_URL
    _switch_broker(previous)


def _switch_broker(url: str) -> None:
    celery_app.conf.broker_url = url
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def _start_worker(tmp_path: Path, name: str) -> subprocess.Popen:
    db = settings.DATABASES["default"]
    env = {**os.environ, "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "DEV_SECRETS": "true", "CELERY_BROKER_URL": BROKER_URL, "PROVISION_POLL_S": "0.5", "PROVISION_LEASE_S": "5", "SECRET_KEY": settings.SECRET_KEY,
           "VAR_DIR": str(tmp_path)}
    log = (tmp_path / f"{name}.log").open("w")
    return subprocess.Popen([sys.executable, "-m", "celery", "-A", "broker", "worker", "--pool", "threads",
                             "--concurrency", "4", "--hostname", f"{name}@%h", "--loglevel", "INFO"],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return False


def _partner_running_refs(simulator) -> set[str]:
    return {n["id"] for slug in SIM_PARTNERS for n in simulator.store.list_nodes(slug)}


def test_sigkilled_worker_leaks_and_loses_nothing(owner, sim_catalog, redis_broker, tmp_path, settings):
    assert connection.vendor == "postgresql"
    for slug in SIM_PARTNERS:  # slow partners, so the kill lands while nodes are being provisioned
        requests.post(f"{sim_catalog.url}/_control/{slug}", json={"latency_ms": 400, "delay_s": 3}, timeout=5)
    settings.PROVISION_RESUME_AFTER_S = 2
    settings.PROVISION_LEASE_S = 5
    worker = _start_worker(tmp_path, "first")
    try:
        body = {"gpu": "H200", "gpus_per_node": 1, "policy": {"jurisdictions": ["EU"]}}
        request = parse_placement_request(body)
        for _ in range(RENTALS):
            rental_create(workspace=owner.workspace, user=owner.user, body_hash=request_hash(body),
                          data=RentalInput(request=request, max_hours=1))
        assert _wait(lambda: Rental.objects.filter(state="provisioning").exists(), 30), "worker never started"
        assert not Rental.objects.filter(state="running").count() == RENTALS
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
    second = _start_worker(tmp_path, "second")
    try:
        def settled() -> bool:
            reconcile_all()
            return not Rental.objects.filter(state__in=("pending", "provisioning", "terminating")).exists()

        assert _wait(settled, 90), list(Rental.objects.values_list("state", flat=True))
        reconcile_all()
        broker_running = set(Node.objects.filter(state="running", rental__state="running")
                             .values_list("provider_ref", flat=True))
        assert _partner_running_refs(sim_catalog) == broker_running
        assert set(Rental.objects.values_list("state", flat=True)) <= {"running", "failed"}
        assert Rental.objects.filter(state="running").exists()
    finally:
        os.killpg(second.pid, signal.SIGKILL)
        second.wait(10)
