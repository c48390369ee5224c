"""Shared fixtures: named personas (owner, teammate, stranger) with API clients."""

from pathlib import Path

import pytest
from rest_framework.test import APIClient

from marketplace.models import Membership, Role
from marketplace.services.api_keys import api_key_create, workspace_ensure


class Persona:
    def __init__(self, workspace, user, token):
        self.workspace, self.user, self.token = workspace, user, token
        self.client = APIClient()
        self.client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")


def make_persona(workspace_name: str, email: str, *, role: str = Role.OWNER, staff: bool = False) -> Persona:
    workspace, user = workspace_ensure(name=workspace_name, owner_email=email, staff=staff)
    Membership.objects.filter(user=user, workspace=workspace).update(role=role)
    _, token = api_key_create(workspace=workspace, user=user)
    return Persona(workspace, user, token)


@pytest.fixture
def owner(db) -> Persona:
    return make_persona("acme-ml", "owner@acme.test")


@pytest.fixture
def stranger(db) -> Persona:
    return make_persona("other-co", "someone@other.test")


@pytest.fixture
def staff(db) -> Persona:
    return make_persona("broker-ops", "ops@broker.test", staff=True)


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


SHARED_CATALOG = Path(__file__).resolve().parents[2] / "shared" / "catalog" / "skypilot"


@pytest.fixture(scope="session")
def parsed_catalog():
    """The shared catalogue when it is beside the checkout, else the bundled snapshot of it."""
    from marketplace.catalog.skypilot import parse_catalog
    from marketplace.catalog.snapshot import load_snapshot

    return parse_catalog(SHARED_CATALOG) if SHARED_CATALOG.is_dir() else load_snapshot()


@pytest.fixture
def real_catalog(db, parsed_catalog):
    """The real catalogue imported into the test database."""
    from marketplace.catalog.importer import import_parsed

    return import_parsed(parsed_catalog)


@pytest.fixture(autouse=True)
def _fresh_offer_index():
    """No test sees an offer index or an offers page cached by an earlier one."""
    from django.core.cache import cache

    from marketplace.selectors.catalog_version import forget_cached_version
    from marketplace.selectors.gpu_list import clear_gpu_list_cache
    from marketplace.selectors.offer_index import clear_offer_index_cache
    from marketplace.services.api_keys import forget_cached_keys

    clear_offer_index_cache()
    clear_gpu_list_cache()
    forget_cached_keys()
    cache.clear()
    forget_cached_version()
    yield
    clear_offer_index_cache()


@pytest.fixture(scope="session", autouse=True)
def _development_secrets():
    """The suite runs on the development secrets, as `make run` does (servers it starts would refuse them)."""
    from django.conf import settings

    settings.DEV_SECRETS = True


@pytest.fixture(scope="session", autouse=True)
def _celery_queue_for_tests():
    """Tests drive services directly; keep their enqueued tasks off the development queue file."""
    from django.conf import settings

    from broker.celery import app

    if settings.CELERY_BROKER_URL.startswith("sqlite"):
        app.conf.broker_url = "memory://"
    yield


def drive_rental(rental_id: int, *, rounds: int = 30):
    """Do what the worker does, in-process: provision, poll, fail over, hand SSH-launched nodes their plan, until
    the rental settles."""
    from marketplace.models import Rental
    from marketplace.services.plan_delivery import node_plan_deliver
    from marketplace.services.rentals import rental_finish_termination, rental_poll, rental_provision

    for _ in range(rounds):
        rental = Rental.objects.get(pk=rental_id)
        if rental.state in ("pending", "provisioning"):
            rental_provision(rental_id)
            if rental_poll(rental_id):
                for node_id in rental.nodes.filter(state="running", plan_delivered_at__isnull=True).values_list(
                        "pk", flat=True):
                    node_plan_deliver(node_id)
        elif rental.state == "terminating":
            rental_finish_termination(rental_id)
        else:
            return rental
    return Rental.objects.get(pk=rental_id)


def _on_postgres() -> bool:
    from django.conf import settings

    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def pytest_collection_modifyitems(config, items):
    """PostgreSQL-only tests skip on SQLite; in CI (CI=true) they must run, so SQLite there is an error."""
    import os

    if _on_postgres():
        return
    if os.environ.get("CI", "").lower() == "true":
        raise pytest.UsageError("CI must run the suite on PostgreSQL (set DATABASE_URL); postgres tests cannot skip")
    skip = pytest.mark.skip(reason="needs PostgreSQL (DATABASE_URL=postgres://…)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def live_partners(real_catalog, parsed_catalog, tmp_path, live_server, settings):
    """The real catalogue; a few partners are live on the simulator, which boots each node's cloud-init plan
    on a simulated VM: the plan downloads the agent from the live broker (PUBLIC_BASE_URL), whose heartbeats
    reach it, and starts the NIM runtime in place of the container. The others are suspended."""
    from marketplace.models import Partner, PartnerStatus
    from nim_launcher.gateway import routing
    from providers.processes import kill_group
    from providers.simulator import Faults, SimulatorServer
    from tests.marketplace.conftest import SIM_PARTNERS, wire_partners

    settings.PUBLIC_BASE_URL = live_server.url
    nodes_dir = tmp_path / "nodes"
    server = SimulatorServer([o for o in parsed_catalog.offers if o.partner in SIM_PARTNERS], capacity=2,
                             state_path=tmp_path / "sim.sqlite3", random_seed=7, faults=Faults(),
                             run_user_data=True, runtime_dir=nodes_dir).start()
    Partner.objects.exclude(slug__in=SIM_PARTNERS).update(status=PartnerStatus.SUSPENDED)
    wire_partners(server)
    routing.clear_cache()
    yield server
    server.stop()
    for pid_file in nodes_dir.glob("*.pid"):  # runtimes of nodes the test did not terminate
        kill_group(nodes_dir, pid_file.stem)
