"""A workspace's private offers (its own machines, sold by a partner row it owns) as a small offer index.

They never enter the process-wide index nor the catalogue: the index is built per request from the database,
so capacity is always the live count, and only the owning workspace ever matches them.
"""

import dataclasses

from django.db import connection
from django.utils import timezone

from marketplace.matching import OK, OfferIndex
from marketplace.models import GpuModel, Offer, Partner, PartnerStatus, Region
from marketplace.selectors.offer_index import OFFER_COLUMNS, _snapshot


def private_offer_index(workspace_id: int | None) -> OfferIndex:
    """The workspace's private offers; an internal price (0 by default) is never a suspect price."""
    if workspace_id is None:
        return OfferIndex(())
    partners = {pk: (slug, status == PartnerStatus.ACTIVE, float(reliability), hq, frozenset())
                for pk, slug, status, reliability, hq in _workspace_partners(workspace_id)}
    if not partners:
        return OfferIndex(())
    rows = list(Offer.objects.filter(partner_id__in=partners).order_by("id").values_list(*OFFER_COLUMNS))
    regions = {row[0]: row[1:] for row in Region.objects.filter(partner_id__in=partners).values_list(
        "id", "code", "country", "jurisdiction", "latitude", "longitude")}
    gpus = {row[0]: row[1:] for row in GpuModel.objects.filter(pk__in={row[3] for row in rows}).values_list(
        "id", "name", "memory_gb", "architecture")}
    now = timezone.now()
    snapshots = [dataclasses.replace(_snapshot(row, partners, regions, gpus, 0.0, now), price_status=OK,
                                     price_status_reason="") for row in rows]
    return OfferIndex(snapshots)


def _workspace_partners(workspace_id: int) -> list[tuple]:
    """(id, slug, status, reliability, hq_jurisdiction) of the workspace's partner rows. Asked on every match
    (usually to learn there are none), so it is one plain statement rather than an ORM query compiled anew."""
    meta = Partner._meta
    columns = ", ".join(connection.ops.quote_name(meta.get_field(name).column)
                        for name in ("id", "slug", "status", "reliability", "hq_jurisdiction"))
    workspace = connection.ops.quote_name(meta.get_field("workspace").column)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {connection.ops.quote_name(meta.db_table)} WHERE {workspace} = %s",
                       [workspace_id])
        return cursor.fetchall()


def private_offer_ids(workspace_id: int | None) -> set[int]:
    """Ids of the offers only this workspace may see."""
    if workspace_id is None:
        return set()
    return set(Offer.objects.filter(partner__workspace_id=workspace_id).values_list("pk", flat=True))
