"""Partner lifecycle (create, update, verify, activate, suspend) and the offer sync from a partner's API.

Partner calls never run inside a transaction: the adapter is called first, then the result is written.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from marketplace.catalog.gpus import CANONICAL_GPUS, UnknownGpu, canonical_gpu
from marketplace.catalog.importer import offer_columns, refresh_price_statuses
from marketplace.catalog.regions import jurisdiction_of
from marketplace.catalog.upsert import UpsertCounts, upsert_partner_offers
from marketplace.catalog.variants import GpuVariant, UnknownVariant, resolve_variant
from marketplace.errors import Conflict
from marketplace.flows import PARTNER_FLOW, PARTNER_SELLING
from marketplace.models import GpuModel, Offer, Partner, PartnerKind, PartnerStatus, PriceStatus, Region
from marketplace.scheduling import enqueue
from marketplace.selectors.catalog_version import bump_catalog_version
from marketplace.services.adapters import adapter_for
from marketplace.services.capacity import partner_capacity_reported
from marketplace.states import transition
from providers.base import ProviderError, ProviderOffer
from providers.gcp import parse_key
from providers.nebius import service_account_of
from providers.ssh_launch import load_private_key

MAX_SKIPPED_EXAMPLES = 10

# The secrets each adapter kind authenticates with: (required, optional). Nothing else is stored.
CREDENTIAL_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    PartnerKind.AWS: (("aws_access_key_id", "aws_secret_access_key"), ("aws_session_token",)),
    PartnerKind.LAMBDA: (("api_key",), ()),
    PartnerKind.PARTNER_API: (("api_key",), ()),
    PartnerKind.SHADEFORM: (("api_key",), ()),
    PartnerKind.VAST: (("api_key",), ()),
    PartnerKind.VERDA: (("client_id", "client_secret"), ()),
    PartnerKind.HYPERSTACK: (("api_key",), ()),
    PartnerKind.GCP: (("service_account_key",), ()),
    PartnerKind.LIUM: (("api_key",), ()),
    PartnerKind.JARVISLABS: (("api_key",), ()),
    PartnerKind.MITHRIL: (("api_key",), ()),  # the project: the key's only one, or the adapter option `project`
    # an IAM token, or (production) a service account's authorized key: checked by service_account_of
    PartnerKind.NEBIUS: (("tenant_id",), ("iam_token", "service_account_id", "public_key_id", "private_key")),
    PartnerKind.YOTTA: (("api_key", "org_id"), ()),
    # the private half of the SSH key registered in the Hyperbolic account: the broker logs in to start each plan
    PartnerKind.HYPERBOLIC: (("api_key", "ssh_private_key"), ()),
    # the API token (X-APITOKEN) and the private half of the account key labelled by the adapter option `ssh_key_name`
    PartnerKind.SEEWEB: (("api_key", "ssh_private_key"), ()),
    PartnerKind.LOCAL: ((), ()),
    PartnerKind.CATALOG: ((), ()),
}


def credential_errors(kind: str, credentials: dict | None, *, creating: bool) -> list[str]:
    """What is wrong with `credentials` for a partner of `kind` (empty when they are exactly right)."""
    required, optional = CREDENTIAL_FIELDS.get(kind, ((), ()))
    if credentials is None:
        return [f"A partner of kind {kind} needs credentials: {', '.join(required)}."] if creating and required else []
    unknown = sorted(set(credentials) - set(required) - set(optional))
    missing = [name for name in required if not credentials.get(name)]
    errors = [f"A partner of kind {kind} takes no credential {name!r}." for name in unknown]
    errors += [f"A partner of kind {kind} needs {name!r}." for name in missing]
    if kind == PartnerKind.GCP and not errors:
        try:
            parse_key(credentials)
        except ValueError as exc:
            errors.append(f"{exc}: paste the service account's JSON key file.")
    if kind == PartnerKind.NEBIUS and not unknown:
        try:
            service_account_of(credentials)
        except ValueError as exc:
            errors.append(f"A partner of kind nebius: {exc}.")
    if credentials.get("ssh_private_key") and not errors:
        try:
            load_private_key(credentials["ssh_private_key"])
        except ProviderError as exc:
            errors.append(f"ssh_private_key: {exc.message}.")
    return errors


class PartnerStateConflict(Conflict):
    """The partner is not in a state that allows this change (HTTP 409)."""


@dataclass
class SyncReport(UpsertCounts):
    ok: bool = True
    skipped: list[str] = field(default_factory=list)
    error: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def partner_create(*, slug: str, credentials: dict | None = None, **fields) -> Partner:
    """Create a pending partner; credentials are encrypted on the row, never stored in clear."""
    if fields.get("hq_country") and not fields.get("hq_jurisdiction"):
        fields["hq_jurisdiction"] = jurisdiction_of(fields["hq_country"])
    partner = Partner(slug=slug, status=PartnerStatus.PENDING, **fields)
    partner.credentials = credentials or {}
    partner.save()
    return partner


VERIFIED_FIELDS = ("kind", "base_url", "adapter_options")  # what a verification vouched for, with the credentials


def partner_update(*, partner: Partner, credentials: dict | None = None, actor: str = "admin", **fields) -> Partner:
    """Change editable fields. A change to what verification vouched for (kind, URL, options, credentials)
    sends the partner back to pending, off the marketplace, until it verifies again."""
    reverify = any(name in fields and fields[name] != getattr(partner, name) for name in VERIFIED_FIELDS)
    for name, value in fields.items():
        setattr(partner, name, value)
    if "hq_country" in fields and "hq_jurisdiction" not in fields:
        partner.hq_jurisdiction = jurisdiction_of(partner.hq_country) if partner.hq_country else ""
    if credentials is not None:
        reverify = reverify or credentials != partner.credentials
        partner.credentials = credentials
    partner.save(update_fields=[f.name for f in Partner._meta.concrete_fields
                                if not f.primary_key and f.name != PARTNER_FLOW.state_field])
    if reverify and partner.status != PartnerStatus.PENDING:
        transition(partner, PartnerStatus.PENDING, reason="kind, URL, options or credentials changed: verify again",
                   actor=actor, verify_result={})
    bump_catalog_version()
    return partner


def base_url_problem(url: str) -> str | None:
    """Why a partner API base URL is refused (None when fine): credentials never travel inside a URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "Use an http(s) URL, e.g. https://api.partner.example/v1."
    if parts.username is not None or parts.password is not None:
        return "Credentials do not belong in the URL: put them in `credentials`, which is stored encrypted."
    return None


VERIFY_TASK = "marketplace.tasks.partners.verify_partner_task"
SYNC_TASK = "marketplace.tasks.partners.sync_partner_task"


def partner_verify_request(*, partner: Partner) -> dict:
    """Queue a verification (the partner call runs in the worker); `verify_result` says `queued` until done."""
    status = {"state": "queued", "at": timezone.now().isoformat()}
    Partner.objects.filter(pk=partner.pk).update(verify_result=status)
    enqueue(VERIFY_TASK, partner.pk)
    partner.verify_result = status
    return status


def partner_sync_request(*, partner: Partner) -> dict:
    """Queue a sync (the partner call runs in the worker); `sync_report` says `queued` until it has a report."""
    status = {"state": "queued", "at": timezone.now().isoformat()}
    Partner.objects.filter(pk=partner.pk).update(sync_report=status)
    enqueue(SYNC_TASK, partner.pk)
    partner.sync_report = status
    return status


def partner_verify(*, partner: Partner, actor: str = "admin") -> dict:
    """Live authenticated calls (the adapter's `verify`, then its offers); the result is stored and a pending
    partner becomes verified."""
    try:
        adapter = adapter_for(partner)
        gpus = adapter.verify()
        offers = adapter.list_offers()
    except ProviderError as exc:
        result = {"state": "done", "ok": False, "at": timezone.now().isoformat(), "error_kind": exc.kind,
                  "message": exc.message}
    else:
        result = {"state": "done", "ok": True, "at": timezone.now().isoformat(), "offers": len(offers), "gpus": gpus}
    Partner.objects.filter(pk=partner.pk).update(verify_result=result)
    partner.refresh_from_db()
    if result["ok"] and partner.status == PartnerStatus.PENDING:
        transition(partner, PartnerStatus.VERIFIED, reason=f"verified: {result['offers']} offer(s)", actor=actor)
        partner.refresh_from_db()
    return result


def _move(partner: Partner, to: str, actor: str) -> Partner:
    """Idempotent: a partner already in `to` is left alone; a move the flow refuses is a conflict."""
    partner.refresh_from_db()
    if partner.status == to:
        return partner
    if not PARTNER_FLOW.allows(partner.status, to):
        raise PartnerStateConflict(f"cannot move a {partner.status} partner to {to}")
    if not transition(partner, to, reason=f"{to} by {actor}", actor=actor):
        return _move(partner, to, actor)  # moved meanwhile: judge its new state
    partner.refresh_from_db()
    bump_catalog_version()
    return partner


def partner_activate(*, partner: Partner, actor: str = "admin") -> Partner:
    """verified or suspended → active (idempotent)."""
    return _move(partner, PartnerStatus.ACTIVE, actor)


def partner_suspend(*, partner: Partner, actor: str = "admin") -> Partner:
    """active or verified → suspended (idempotent): its offers leave the marketplace."""
    return _move(partner, PartnerStatus.SUSPENDED, actor)


def partner_sync(*, partner: Partner) -> SyncReport:
    """Fetch the partner's offers and upsert them; if it does not answer, mark its offers stale. The report is
    kept on the row (`sync_report`) for whoever requested the sync."""
    report = _sync(partner)
    Partner.objects.filter(pk=partner.pk).update(
        sync_report={"state": "done", "at": timezone.now().isoformat(), **report.as_dict()})
    return report


def _sync(partner: Partner) -> SyncReport:
    read_at = timezone.now()  # the partner's counts are as of (at latest) this instant
    try:
        offers = adapter_for(partner).list_offers()
    except ProviderError as exc:
        return _sync_failed(partner, exc)
    report = SyncReport(ok=True)
    with transaction.atomic():
        _apply_offers(partner, offers, report)
        partner_capacity_reported(partner, read_at=read_at)
        Partner.objects.filter(pk=partner.pk).update(last_sync_at=timezone.now(), sync_error="")
        refresh_price_statuses()
        bump_catalog_version()
    return report


def _sync_failed(partner: Partner, exc: ProviderError) -> SyncReport:
    reason = f"partner sync failed ({exc.kind})"
    with transaction.atomic():
        Offer.objects.filter(partner=partner).update(price_status=PriceStatus.STALE, price_status_reason=reason)
        Partner.objects.filter(pk=partner.pk).update(sync_error=f"{exc.kind}: {exc.message}"[:1000])
        bump_catalog_version()
    return SyncReport(ok=False, error=exc.kind)


def _gpu_models() -> dict[str, GpuModel]:
    models = {gpu.name: gpu for gpu in GpuModel.objects.all()}
    for spec in CANONICAL_GPUS.values():
        if spec.name not in models:
            models[spec.name], _ = GpuModel.objects.get_or_create(
                name=spec.name, defaults={"memory_gb": spec.memory_gb, "architecture": spec.architecture,
                                          "vendor": spec.vendor})
    return models


def _regions(partner: Partner, codes: set[str]) -> dict[str, Region]:
    """Existing regions as they are; new ones with country/jurisdiction unknown (the partner reports none)."""
    regions = {r.code: r for r in partner.regions.all()}
    for code in sorted(codes - set(regions)):
        regions[code] = Region.objects.create(partner=partner, code=code, display_name=code)
    return regions


def _values(offer: ProviderOffer, region: Region, gpu: GpuModel, variant: GpuVariant) -> dict:
    return {**offer_columns(offer, region, gpu, form_factor=variant.form_factor, gpu_memory_gb=variant.memory_gb),
            "available_nodes": offer.available_nodes}


def _variant(partner: Partner, item: ProviderOffer) -> GpuVariant:
    """The live offer's variant, read from its GPU name and instance type (live APIs give no GpuInfo)."""
    return resolve_variant(partner.slug, canonical_gpu(item.gpu), instance_type=item.instance_type,
                           accelerator=item.gpu, gpus=max(item.gpus_per_node, 1))


def _apply_offers(partner: Partner, offers: list[ProviderOffer], report: SyncReport) -> None:
    gpus = _gpu_models()
    regions = _regions(partner, {o.region for o in offers})
    rows = []
    for item in offers:
        try:
            variant = _variant(partner, item)
        except (UnknownGpu, UnknownVariant) as exc:
            reason = f"unknown GPU {item.gpu!r}" if isinstance(exc, UnknownGpu) else str(exc)
            if len(report.skipped) < MAX_SKIPPED_EXAMPLES:
                report.skipped.append(f"{item.instance_type}: {reason}")
            continue
        if item.gpus_per_node >= 1:
            region = regions[item.region]
            rows.append((region, item.instance_type, _values(item, region, gpus[variant.model], variant)))
    counts = upsert_partner_offers(partner, rows, now=timezone.now(), confirm_unchanged=True)
    report.add(counts)


def partners_to_sync() -> list[int]:
    """Ids of partners with a live API that sell on the marketplace (or are about to)."""
    return list(Partner.objects.exclude(kind__in=("catalog", "fleet"))
                .filter(status__in=PARTNER_SELLING).values_list("pk", flat=True))
