"""End to end: the CLI renting through the real rentals pipeline on a simulated partner cloud.

Runs once the rentals service and its API routes exist; until then the module is skipped.
"""

import pytest
from django.urls import Resolver404, resolve

pytest.importorskip("marketplace.services.rentals")
try:
    resolve("/api/v1/rentals")
except Resolver404:
    pytest.skip("the rentals API is not routed yet", allow_module_level=True)

from broker.celery import app as celery_app  # noqa: E402
from marketplace.models import Partner, PartnerKind, PartnerStatus, Region, Rental  # noqa: E402
from marketplace.selectors.catalog_version import bump_catalog_version  # noqa: E402
from marketplace.selectors.offer_index import clear_offer_index_cache  # noqa: E402
from providers.simulator import SimulatorServer  # noqa: E402
from tests.cli.conftest import make_offer  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)

SLUG = "simcloud"
SEED = {SLUG: [{"region": "eu-central-1", "instance_type": "gpu_8x_h100_sxm5", "gpu": "H100", "gpus_per_node": 8,
                "vcpus": 208, "memory_gb": 1800, "interconnect": "nvlink", "price_per_hour": 23.92,
                "spot_price_per_hour": None}]}
RENT = ("rent", "--gpu", "H100", "--gpus-per-node", "8", "--jurisdiction", "EU", "--max-price", "3.5",
        "--max-hours", "1", "--poll-interval", "0.2s", "--timeout", "60s")


@pytest.fixture
def eager_tasks(monkeypatch):
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", True)


@pytest.fixture
def simulated_partner(transactional_db, eager_tasks):
    """A verified partner_api partner served by the partner simulator, with one H100 offer in the catalogue."""
    server = SimulatorServer(SEED, capacity=2, random_seed=7).start()
    partner = Partner.objects.create(slug=SLUG, name="Sim Cloud", kind=PartnerKind.PARTNER_API,
                                     base_url=server.partner_api_url(SLUG), status=PartnerStatus.ACTIVE,
                                     hq_country="DE", hq_jurisdiction="EU")
    partner.credentials = {"api_key": f"sim-{SLUG}"}
    partner.save()
    region = Region.objects.create(partner=partner, code="eu-central-1", country="DE", jurisdiction="EU")
    make_offer(partner, region, "H100", instance_type="gpu_8x_h100_sxm5", gpus=8, price="23.92")
    bump_catalog_version()
    clear_offer_index_cache()
    yield server
    clear_offer_index_cache()
    server.stop()


def test_rent_wait_json_reaches_running_on_a_simulated_partner(live_cli, simulated_partner, owner):
    result = live_cli(*RENT, "--wait", "--json")
    assert result.code == 0, result.err
    rental = result.json()
    assert rental["state"] == "running"
    assert rental["nodes"] and all(node["state"] == "running" for node in rental["nodes"])
    assert Rental.objects.get(pk=rental["id"], workspace=owner.workspace).state == "running"
    assert live_cli("terminate", str(rental["id"]), "--wait", "--json", "--poll-interval", "0.2s").code == 0


def test_a_retried_invocation_with_the_same_idempotency_key_returns_the_same_rental(live_cli, simulated_partner,
                                                                                    owner):
    first = live_cli(*RENT, "--idempotency-key", "ci-job-77-rent", "--json")
    second = live_cli(*RENT, "--idempotency-key", "ci-job-77-rent", "--json")
    assert first.code == second.code == 0, first.err + second.err
    assert first.json()["id"] == second.json()["id"]
    assert Rental.objects.filter(workspace=owner.workspace).count() == 1


def test_no_matching_placement_exits_3_with_the_explanation(live_cli, simulated_partner, owner):
    result = live_cli(*RENT, "--country", "FR", "--json")
    assert result.code == 3
    error = result.json()["error"]
    assert error["kind"] == "no_capacity" and error["explanation"]["matched"] == 0
    assert Rental.objects.filter(workspace=owner.workspace).count() == 0


def test_partner_out_of_capacity_exits_3_after_the_rental_fails(live_cli, simulated_partner):
    simulated_partner.store.set_capacity(SLUG, 0)
    result = live_cli(*RENT, "--wait", "--json")
    assert result.code == 3, result.err
    assert result.json()["state"] == "failed"
    assert result.json()["failure_reason"].startswith("no capacity")
