"""Load a parsed catalogue into the database: one transaction, idempotent, price history on change."""

from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from marketplace.models import GpuModel, Offer, Partner, PartnerStatus, Region
from marketplace.money import per_gpu, price_decimal
from marketplace.price_integrity import OK, STALE, PricePoint, assess_prices
from marketplace.selectors.catalog_version import bump_catalog_version
from providers.base import ProviderOffer

from .gpus import CANONICAL_GPUS, canonical_gpu
from .partners import partner_profile
from .regions import jurisdiction_of
from .skypilot import CatalogParse, OfferRow, RowProblem, parse_catalog, summarize
from .upsert import UpsertCounts, upsert_partner_offers

MAX_PROBLEM_EXAMPLES = 10


@dataclass
class ImportReport(UpsertCounts):
    problems: int = 0
    problem_examples: list[RowProblem] = field(default_factory=list)
    per_partner: dict[str, dict[str, int]] = field(default_factory=dict)


def import_catalog(directory: str | Path) -> ImportReport:
    """Parse a SkyPilot-layout directory and import it."""
    return import_parsed(parse_catalog(directory))


def import_parsed(parsed: CatalogParse) -> ImportReport:
    report = ImportReport(problems=len(parsed.problems), problem_examples=parsed.problems[:MAX_PROBLEM_EXAMPLES],
                          per_partner=summarize(parsed))
    with transaction.atomic():
        gpus = _ensure_gpus()
        partners = {slug: _ensure_partner(slug) for slug in parsed.partners}
        regions = _ensure_regions(parsed, partners)
        for slug, partner in partners.items():
            rows = [row for row in parsed.offers if row.partner == slug]
            _sync_partner_offers(partner, rows, regions, gpus, report)
        refresh_price_statuses()
        bump_catalog_version()
    return report


def _ensure_gpus() -> dict[str, GpuModel]:
    existing = {gpu.name: gpu for gpu in GpuModel.objects.all()}
    for spec in CANONICAL_GPUS.values():
        if spec.name not in existing:
            existing[spec.name] = GpuModel.objects.create(
                name=spec.name, memory_gb=spec.memory_gb, architecture=spec.architecture, vendor=spec.vendor)
    return existing


def _ensure_partner(slug: str) -> Partner:
    profile = partner_profile(slug)
    partner, created = Partner.objects.get_or_create(slug=slug, defaults={
        "name": profile.name, "hq_country": profile.hq_country,
        "hq_jurisdiction": jurisdiction_of(profile.hq_country) if profile.hq_country else "",
        "certifications": list(profile.certifications), "status": PartnerStatus.ACTIVE,
    })
    return partner


def _ensure_regions(parsed: CatalogParse, partners: dict[str, Partner]) -> dict[tuple[str, str], Region]:
    regions = {(r.partner.slug, r.code): r for r in Region.objects.filter(partner__in=partners.values())
               .select_related("partner")}
    for (slug, code), info in parsed.regions.items():
        values = {"display_name": info.display_name, "country": info.country, "jurisdiction": info.jurisdiction,
                  "latitude": info.latitude, "longitude": info.longitude}
        region = regions.get((slug, code))
        if region is None:
            regions[(slug, code)] = Region.objects.create(partner=partners[slug], code=code, **values)
        elif any(getattr(region, k) != v for k, v in values.items()):
            Region.objects.filter(pk=region.pk).update(**values)
            for key, value in values.items():
                setattr(region, key, value)
    return regions


def offer_columns(row: OfferRow | ProviderOffer, region: Region, gpu: GpuModel, *, form_factor: str = "",
                  gpu_memory_gb: int = 0) -> dict:
    """Offer columns from a catalogue row or a partner's live offer: prices, derived and denormalised fields.

    `form_factor`/`gpu_memory_gb`: the variant, when the row does not carry it; else the model's usual one.
    """
    price = price_decimal(row.price_per_hour)
    return {
        "gpu": gpu, "gpus_per_node": row.gpus_per_node, "vcpus": row.vcpus, "memory_gb": row.memory_gb,
        "interconnect": row.interconnect, "price_per_hour": price,
        "spot_price_per_hour": price_decimal(row.spot_price_per_hour),
        "price_per_gpu_hour": per_gpu(price, row.gpus_per_node),
        "country": region.country, "jurisdiction": region.jurisdiction,
        "form_factor": getattr(row, "form_factor", "") or form_factor or _usual_form_factor(gpu.name),
        "gpu_memory_gb": getattr(row, "gpu_memory_gb", 0) or gpu_memory_gb or gpu.memory_gb,
    }


def _usual_form_factor(gpu_name: str) -> str:
    return canonical_gpu(gpu_name).form_factors[0]


def _sync_partner_offers(partner, rows, regions, gpus, report: ImportReport) -> None:
    counts = upsert_partner_offers(partner, (
        (regions[(partner.slug, row.region)], row.instance_type,
         offer_columns(row, regions[(partner.slug, row.region)], gpus[row.gpu])) for row in rows),
        now=timezone.now(), confirm_unchanged=False)
    report.add(counts)


def refresh_price_statuses() -> int:
    """Re-assess every offer's price against its GPU model's market; returns how many statuses changed."""
    now = timezone.now()
    rows = list(Offer.objects.values_list("id", "gpu__name", "gpus_per_node", "price_per_hour",
                                          "spot_price_per_hour", "updated_at", "price_status", "price_status_reason",
                                          "partner__sync_error"))
    points = [PricePoint(key=r[0], gpu=r[1], gpus_per_node=r[2],
                         price_per_hour=None if r[3] is None else float(r[3]),
                         spot_price_per_hour=None if r[4] is None else float(r[4]),
                         age_s=(now - r[5]).total_seconds()) for r in rows]
    verdicts = assess_prices(points, suspect_fraction=settings.SUSPECT_PRICE_FRACTION,
                             stale_after_s=settings.OFFER_STALE_AFTER_S or None)
    for r in rows:
        if r[8] and verdicts[r[0]][0] == OK:  # a partner that stopped answering: its last prices are stale
            verdicts[r[0]] = (STALE, "partner sync failed")
    changed = [Offer(id=r[0], price_status=verdicts[r[0]][0], price_status_reason=verdicts[r[0]][1])
               for r in rows if (r[6], r[7]) != verdicts[r[0]]]
    Offer.objects.bulk_update(changed, ["price_status", "price_status_reason"], batch_size=1000)
    return len(changed)
