"""Load a synthetic catalogue (benchmarks/synthetic.py's distribution) into the database, fast."""

from datetime import UTC, datetime
from decimal import Decimal

from benchmarks.synthetic import synthetic_offers
from marketplace.catalog.gpus import CANONICAL_GPUS

BATCH = 5000


def load_synthetic_catalog(count: int, *, seed: int = 7) -> int:
    """Replace the catalogue with `count` synthetic offers; returns how many were written. Workspaces' own
    partners (fleets, e.g. benchmarks.fleets' on the same database) are not the catalogue and stay."""
    from marketplace.models import GpuModel, Offer, Partner, PartnerStatus, Region
    from marketplace.selectors.catalog_version import bump_catalog_version

    Offer.objects.filter(partner__workspace__isnull=True).delete()
    Region.objects.filter(partner__workspace__isnull=True).delete()
    Partner.objects.filter(workspace__isnull=True).delete()
    gpus = {g.name: g for g in GpuModel.objects.all()}
    for spec in CANONICAL_GPUS.values():
        if spec.name not in gpus:
            gpus[spec.name] = GpuModel.objects.create(name=spec.name, memory_gb=spec.memory_gb,
                                                      architecture=spec.architecture, vendor=spec.vendor)
    partners, regions, batch, written = {}, {}, [], 0
    now = datetime.now(UTC)
    for snap in synthetic_offers(count, seed=seed):
        if snap.partner not in partners:
            partners[snap.partner] = Partner.objects.create(
                slug=snap.partner, name=snap.partner.title(), hq_jurisdiction=snap.partner_hq_jurisdiction,
                certifications=sorted(snap.partner_certifications), reliability=snap.partner_reliability,
                status=PartnerStatus.ACTIVE if snap.partner_active else PartnerStatus.SUSPENDED)
        key = (snap.partner, snap.region)
        if key not in regions:
            regions[key] = Region.objects.create(partner=partners[snap.partner], code=snap.region,
                                                 country=snap.country, jurisdiction=snap.jurisdiction,
                                                 latitude=snap.latitude, longitude=snap.longitude)
        price = Decimal(str(snap.price_per_hour))
        batch.append(Offer(
            partner=partners[snap.partner], region=regions[key], gpu=gpus[snap.gpu], instance_type=snap.instance_type,
            gpus_per_node=snap.gpus_per_node, vcpus=snap.vcpus, memory_gb=snap.memory_gb,
            interconnect=snap.interconnect, price_per_hour=price,
            spot_price_per_hour=None if snap.spot_price_per_hour is None else Decimal(str(snap.spot_price_per_hour)),
            price_per_gpu_hour=(price / snap.gpus_per_node).quantize(Decimal("0.0001")),
            available_nodes=snap.available_nodes, price_status=snap.price_status,
            price_status_reason=snap.price_status_reason, country=snap.country, jurisdiction=snap.jurisdiction,
            gpu_memory_gb=snap.gpu_memory_gb, updated_at=now))
        if len(batch) >= BATCH:
            written += len(Offer.objects.bulk_create(batch))
            batch = []
    written += len(Offer.objects.bulk_create(batch))
    bump_catalog_version()
    return written
