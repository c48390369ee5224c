"""Rental fixtures: the real catalogue, served by the partner simulator, with the partners wired to it."""

from contextlib import contextmanager

import pytest

from marketplace.models import NodeLaunch, Offer, Partner, PartnerKind, PartnerStatus
from marketplace.selectors.catalog_version import bump_catalog_version
from providers.simulator import Faults, SimulatorServer

SIM_PARTNERS = ("nebius", "verda", "seeweb", "lambda", "hyperstack")


@pytest.fixture
def simulator(parsed_catalog, tmp_path):
    server = SimulatorServer([o for o in parsed_catalog.offers if o.partner in SIM_PARTNERS], capacity=2,
                             state_path=tmp_path / "sim.sqlite3", random_seed=7,
                             faults=Faults()).start()
    yield server
    server.stop()


def wire_partners(server: SimulatorServer, slugs=SIM_PARTNERS) -> None:
    """Point catalogue partners at the simulator; the others stay catalogue-only (no live API)."""
    for partner in Partner.objects.filter(slug__in=slugs):
        if partner.slug == "lambda":
            partner.kind, partner.base_url = PartnerKind.LAMBDA, server.lambda_url(partner.slug)
        else:
            partner.kind, partner.base_url = PartnerKind.PARTNER_API, server.partner_api_url(partner.slug)
        partner.credentials = {"api_key": f"sim-{partner.slug}"}
        partner.node_launch = NodeLaunch.CLOUD_INIT
        partner.adapter_options = {"retries": 0} if partner.kind == PartnerKind.PARTNER_API else {}
        partner.status = PartnerStatus.ACTIVE
        partner.save()
    Offer.objects.filter(partner__slug__in=slugs).update(available_nodes=2)
    bump_catalog_version()


@pytest.fixture
def sim_catalog(real_catalog, simulator):
    """Real catalogue; partners in SIM_PARTNERS are live (simulated), the rest list prices only."""
    Partner.objects.exclude(slug__in=SIM_PARTNERS).update(status=PartnerStatus.SUSPENDED)
    wire_partners(simulator)
    return simulator


@pytest.fixture
def worker(django_capture_on_commit_callbacks):
    """Run what a request queues, as the worker would: `with worker(): client.post(...)`."""
    from broker.celery import app

    @contextmanager
    def run():
        app.conf.task_always_eager = True
        try:
            with django_capture_on_commit_callbacks(execute=True):
                yield
        finally:
            app.conf.task_always_eager = False

    return run
