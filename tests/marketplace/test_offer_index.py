"""Loading the offer index from the catalogue and refreshing it on a version bump."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from marketplace.models import CatalogVersion, GpuModel, Offer, Partner, PartnerStatus, Region
from marketplace.selectors import offer_index
from marketplace.selectors.catalog_version import bump_catalog_version, current_catalog_version
from marketplace.selectors.offer_index import clear_offer_index_cache, get_offer_index


@pytest.fixture(autouse=True)
def fresh_index_cache():
    clear_offer_index_cache()
    yield
    clear_offer_index_cache()


def create_offer(*, partner="euro", status=PartnerStatus.ACTIVE, hq="EU", certifications=("ISO27001",),
                 region="eu-central-1", country="DE", jurisdiction="EU", gpu="H100", gpus_per_node=8,
                 price="16.00", spot=None, available=4, instance_type=None, updated_at=None, **fields) -> Offer:
    """An offer with its partner, region and GPU model (created as needed)."""
    partner_row, _ = Partner.objects.get_or_create(slug=partner, defaults={
        "name": partner.title(), "status": status, "hq_jurisdiction": hq, "certifications": list(certifications),
        "reliability": 0.99})
    region_row, _ = Region.objects.get_or_create(partner=partner_row, code=region, defaults={
        "country": country, "jurisdiction": jurisdiction, "latitude": 50.1, "longitude": 8.7})
    gpu_row, _ = GpuModel.objects.get_or_create(name=gpu, defaults={"memory_gb": 80, "architecture": "hopper"})
    price_per_hour = None if price is None else Decimal(price)
    return Offer.objects.create(
        partner=partner_row, region=region_row, gpu=gpu_row, gpus_per_node=gpus_per_node,
        instance_type=instance_type or f"{gpu.lower()}x{gpus_per_node}-{Offer.objects.count()}",
        price_per_hour=price_per_hour, spot_price_per_hour=None if spot is None else Decimal(spot),
        price_per_gpu_hour=None if price_per_hour is None else price_per_hour / gpus_per_node,
        available_nodes=available, country=country, jurisdiction=jurisdiction, gpu_memory_gb=gpu_row.memory_gb,
        interconnect="infiniband", vcpus=208, memory_gb=1800, updated_at=updated_at or timezone.now(), **fields)


@pytest.mark.django_db
def test_index_snapshots_offers_with_partner_and_region_fields():
    offer = create_offer(spot="9.5")
    snapshot = get_offer_index().get(offer.id)
    assert (snapshot.partner, snapshot.partner_active, snapshot.partner_hq_jurisdiction) == ("euro", True, "EU")
    assert snapshot.partner_certifications == frozenset({"ISO27001"})
    assert (snapshot.region, snapshot.country, snapshot.jurisdiction) == ("eu-central-1", "DE", "EU")
    assert (snapshot.latitude, snapshot.longitude) == (50.1, 8.7)
    assert (snapshot.gpu, snapshot.gpu_memory_gb, snapshot.architecture) == ("H100", 80, "hopper")
    assert (snapshot.price_per_hour, snapshot.spot_price_per_hour, snapshot.price_per_gpu_hour) == (16.0, 9.5, 2.0)
    assert (snapshot.available_nodes, snapshot.price_status, snapshot.vcpus) == (4, "ok", 208.0)


@pytest.mark.django_db
def test_suspended_partner_offers_are_inactive():
    offer = create_offer(partner="shady", status=PartnerStatus.SUSPENDED)
    assert get_offer_index().get(offer.id).partner_active is False


@pytest.mark.django_db
def test_stored_suspect_status_is_kept_and_missing_price_is_suspect():
    flagged = create_offer(price_status="suspect", price_status_reason="too cheap")
    unpriced = create_offer(price=None)
    index = get_offer_index()
    assert (index.get(flagged.id).price_status, index.get(flagged.id).price_status_reason) == ("suspect", "too cheap")
    assert index.get(unpriced.id).price_status == "suspect"


@pytest.mark.django_db
def test_prices_older_than_the_stale_limit_are_stale(settings):
    settings.OFFER_STALE_AFTER_S = 3600
    old = create_offer(updated_at=timezone.now() - timedelta(hours=2))
    fresh = create_offer()
    index = get_offer_index()
    assert index.get(old.id).price_status == "stale"
    assert "not refreshed" in index.get(old.id).price_status_reason
    assert index.get(fresh.id).price_status == "ok"


@pytest.mark.django_db
def test_index_is_rebuilt_after_a_catalog_version_bump():
    first = create_offer()
    bump_catalog_version()
    assert [o.id for o in get_offer_index().offers] == [first.id]
    second = create_offer(price="12.00")
    assert len(get_offer_index().offers) == 1  # same version: the cached index
    bump_catalog_version()
    index = get_offer_index()
    assert {o.id for o in index.offers} == {first.id, second.id}
    assert index.version == current_catalog_version() == 2


@pytest.mark.django_db
def test_index_is_reused_without_queries_within_the_check_interval():
    create_offer()
    index = get_offer_index()
    with CaptureQueriesContext(connection) as queries:
        assert get_offer_index() is index
    assert len(queries) == 0


@pytest.mark.django_db
def test_after_the_check_interval_one_query_confirms_the_version(monkeypatch):
    create_offer()
    index = get_offer_index()
    monkeypatch.setattr(offer_index, "VERSION_CHECK_INTERVAL_S", 0.0)
    with CaptureQueriesContext(connection) as queries:
        assert get_offer_index() is index
    assert len(queries) == 1


@pytest.mark.django_db
def test_bump_creates_the_version_row_then_increments_it():
    assert current_catalog_version() == 0
    bump_catalog_version()
    bump_catalog_version()
    assert current_catalog_version() == 2
    assert CatalogVersion.objects.count() == 1


@pytest.mark.django_db
def test_requests_keep_the_previous_index_while_another_thread_rebuilds():
    create_offer()
    bump_catalog_version()
    previous = get_offer_index()
    create_offer(price="12.00")
    bump_catalog_version()
    with offer_index._build_lock:  # as if another thread were rebuilding
        assert get_offer_index() is previous
    assert len(get_offer_index().offers) == 2
