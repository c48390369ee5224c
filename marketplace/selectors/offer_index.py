"""The process-wide offer index the matching engine reads (and the offer listing beside it), rebuilt when
the catalogue version changes."""

import gc
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from marketplace.matching import OfferIndex, OfferSnapshot
from marketplace.models import GpuModel, Offer, Partner, PartnerStatus, Region
from marketplace.offer_listing import ListedFields, OfferListing
from marketplace.price_integrity import OK, PricePoint, assess_price
from marketplace.selectors.catalog_version import current_catalog_version, local_bumps

logger = logging.getLogger(__name__)

# Other processes' catalogue changes show up within this many seconds; this process's own at once.
VERSION_CHECK_INTERVAL_S = 1.0

OFFER_COLUMNS = (
    "id", "partner_id", "region_id", "gpu_id", "instance_type", "gpus_per_node", "vcpus", "memory_gb",
    "interconnect", "price_per_hour", "spot_price_per_hour", "available_nodes", "price_status",
    "price_status_reason", "country", "jurisdiction", "gpu_memory_gb", "updated_at", "price_per_gpu_hour",
    "form_factor",
)


@dataclass
class _Cache:
    index: OfferIndex | None = None
    listing: OfferListing | None = None
    active_partners: dict[str, int] = field(default_factory=dict)  # slug → pk of every active partner
    freeze_gc: bool = False  # a web worker: see warm_offer_index
    checked_at: float = float("-inf")  # monotonic time of the last version check
    stale_at: float = float("inf")  # wall-clock time at which the next ok price turns stale
    bumps_seen: int = 0  # local_bumps() at the last check: this process's own writes force a re-check


_cache = _Cache()
_build_lock = threading.Lock()


def get_offer_index() -> OfferIndex:
    """The current offer index: at most one version query per VERSION_CHECK_INTERVAL_S, a rebuild on change."""
    cache = _cache
    now = time.monotonic()
    bumps = local_bumps()
    if (cache.index is not None and now - cache.checked_at < VERSION_CHECK_INTERVAL_S
            and time.time() < cache.stale_at and bumps == cache.bumps_seen):
        return cache.index
    version = current_catalog_version()
    if _outdated(version):
        # While one thread rebuilds, the others keep answering from the previous index.
        if not _build_lock.acquire(blocking=cache.index is None):
            return cache.index
        try:
            if _outdated(version):
                cache.index, cache.listing, cache.stale_at, cache.active_partners = _build(version)
        finally:
            _build_lock.release()
    cache.checked_at, cache.bumps_seen = now, bumps
    return cache.index


def _build(version: int) -> tuple[OfferIndex, OfferListing, float, dict[str, int]]:
    index, listing, stale_at = build_offer_index(version=version)
    active = dict(Partner.objects.filter(status=PartnerStatus.ACTIVE).values_list("slug", "pk"))
    if _cache.freeze_gc:
        # The index is a few hundred thousand long-lived objects per 100k offers (no reference cycles: the
        # previous one is freed by reference counting). Left to the cyclic collector, each full collection
        # would walk all of them, a pause of tens of milliseconds (hundreds at 1M offers) in whichever
        # request triggers it; frozen, collections only visit what requests allocate.
        gc.freeze()
    return index, listing, stale_at, active


def active_partners() -> dict[str, int]:
    """slug → primary key of the active partners, as of the current offer index's catalogue version."""
    get_offer_index()
    return _cache.active_partners


def warm_offer_index() -> None:
    """Build the index now (a web worker starting up, in a thread of its own), so that no request waits for it;
    a database not ready yet is left to the first request. From then on this process freezes the garbage
    collector's view of each index it builds (see _build)."""
    _cache.freeze_gc = True
    try:
        get_offer_index()
    except DatabaseError as exc:
        logger.warning("offer index not built at start-up: %s", exc)
    finally:
        connection.close()  # this thread's own connection


def get_offer_listing() -> OfferListing:
    """The offer listing of the current index (same version, same freshness rule)."""
    get_offer_index()
    return _cache.listing


def _outdated(version: int) -> bool:
    return _cache.index is None or _cache.index.version != version or time.time() >= _cache.stale_at


def clear_offer_index_cache() -> None:
    """Drop the cached index (tests that write offers without bumping the version)."""
    _cache.index, _cache.listing, _cache.active_partners = None, None, {}
    _cache.checked_at, _cache.stale_at = float("-inf"), float("inf")


def build_offer_index(*, version: int) -> tuple[OfferIndex, OfferListing, float]:
    """Load every offer as a snapshot and the listing over them; also when the earliest ok price turns stale."""
    partners = {row[0]: row[1:] for row in Partner.objects.values_list(
        "id", "slug", "status", "reliability", "hq_jurisdiction", "certifications")}
    partners = {pk: (slug, status == PartnerStatus.ACTIVE, float(reliability), hq, _certs(certs))
                for pk, (slug, status, reliability, hq, certs) in partners.items()}
    regions = {row[0]: row[1:] for row in Region.objects.values_list(
        "id", "code", "country", "jurisdiction", "latitude", "longitude")}
    gpus = {row[0]: row[1:] for row in GpuModel.objects.values_list("id", "name", "memory_gb", "architecture")}
    stale_after_s = float(settings.OFFER_STALE_AFTER_S or 0)
    wall_now = timezone.now()
    snapshots, listed, stale_at, shared = [], [], float("inf"), {}
    public = Offer.objects.filter(partner__workspace__isnull=True)  # private offers: selectors/private_offers.py
    for row in public.order_by().values_list(*OFFER_COLUMNS).iterator(chunk_size=10_000):
        snapshot = _snapshot(row, partners, regions, gpus, stale_after_s, wall_now, shared)
        snapshots.append(snapshot)
        listed.append((snapshot, _listed_fields(row)))
        if stale_after_s and snapshot.price_status == OK and snapshot.updated_at is not None:
            stale_at = min(stale_at, snapshot.updated_at.timestamp() + stale_after_s)
    return OfferIndex(snapshots, version=version), OfferListing(listed), stale_at


def _listed_fields(row: tuple) -> ListedFields:
    """The stored values the offer list shows as they are (the snapshot normalises them for matching)."""
    (*_, status, reason, country, jurisdiction, gpu_memory_gb, _updated_at, price_per_gpu_hour, form_factor) = row
    return ListedFields(country=country, jurisdiction=jurisdiction, gpu_memory_gb=gpu_memory_gb,
                        form_factor=form_factor, price_per_gpu_hour=price_per_gpu_hour, price_status=status,
                        price_status_reason=reason)


def _certs(raw) -> frozenset[str]:
    return frozenset(str(cert).strip().upper() for cert in (raw or []) if str(cert).strip())


def _money(value) -> float | None:
    return None if value is None else float(value)


def _snapshot(row: tuple, partners: dict, regions: dict, gpus: dict, stale_after_s: float,
              now: datetime, shared: dict | None = None) -> OfferSnapshot:
    """One row as a matching snapshot. `shared` (one dict for a whole build) makes equal values one object:
    the driver gives each row its own copy of every string, float and timestamp, and most repeat (a country,
    a status, a vCPU count, an import's timestamp), which at 1M offers is hundreds of megabytes."""
    one = (lambda value: value) if shared is None else (lambda value: shared.setdefault(value, value))
    (offer_id, partner_id, region_id, gpu_id, instance_type, gpus_per_node, vcpus, memory_gb, interconnect,
     price, spot, available, status, reason, country, jurisdiction, gpu_memory_gb, updated_at, *_) = row
    slug, active, reliability, hq, certs = partners[partner_id]
    code, region_country, region_jurisdiction, lat, lon = regions[region_id]
    gpu_name, gpu_memory, architecture = gpus[gpu_id]
    price, spot = _money(price), _money(spot)
    if status == OK:
        age_s = None if updated_at is None else (now - updated_at).total_seconds()
        point = PricePoint(offer_id, gpu_name, gpus_per_node, price, spot, age_s)
        status, reason = assess_price(point, {}, stale_after_s=stale_after_s or None)
    return OfferSnapshot(
        id=offer_id, partner=slug, partner_active=active, partner_reliability=reliability,
        partner_hq_jurisdiction=hq, partner_certifications=certs, region=code,
        country=one(country or region_country), jurisdiction=one(jurisdiction or region_jurisdiction),
        latitude=lat, longitude=lon, instance_type=instance_type, gpu=gpu_name,
        gpu_memory_gb=gpu_memory_gb or gpu_memory, architecture=architecture, gpus_per_node=gpus_per_node,
        interconnect=one(interconnect), price_per_hour=price, spot_price_per_hour=spot, available_nodes=available,
        price_status=one(status), price_status_reason=one(reason), vcpus=one(float(vcpus)),
        memory_gb=one(float(memory_gb)), updated_at=one(updated_at),
    )
