"""Offer lists (API and dashboard) answered from the in-memory offer listing instead of SQL.

The filterset still validates the query string (same 400s); its cleaned values become an `OfferQuery`, and
`ListedOffers` hands Django's paginator an exact count and pages without touching the offers table, except
for one primary-key read of the page's live values (capacity changes with every reservation and does not
bump the catalogue version).
"""

from collections.abc import Callable, Mapping
from typing import Any

from django.db import connection

from marketplace.matching import OfferSnapshot
from marketplace.models import Offer
from marketplace.offer_listing import ListedFields, OfferListing, OfferQuery
from marketplace.selectors.offer_index import get_offer_listing

Render = Callable[[OfferListing, list[int]], list[Any]]


def offer_query(cleaned: Mapping[str, Any]) -> OfferQuery:
    """The OfferFilterSet form's cleaned data as a listing query."""
    partner = cleaned.get("partner")
    return OfferQuery(
        gpu=cleaned.get("gpu") or "", min_gpus=cleaned.get("min_gpus"),
        min_gpu_memory_gb=cleaned.get("min_gpu_memory_gb"), architecture=cleaned.get("architecture") or "",
        form_factor=cleaned.get("form_factor") or "",
        partner=partner.slug if partner is not None else "", region=cleaned.get("region") or "",
        country=cleaned.get("country") or "", jurisdiction=cleaned.get("jurisdiction") or "",
        spot=bool(cleaned.get("spot")), max_price_per_gpu_hour=cleaned.get("max_price_per_gpu_hour"),
        interconnect=cleaned.get("interconnect") or "", ordering=tuple(cleaned.get("ordering") or ()),
    )


class ListedOffers:
    """The offers a query keeps, as the sequence Django's paginator expects (`count()` and slices)."""

    def __init__(self, query: OfferQuery, render: Render, listing: OfferListing | None = None):
        self.listing = listing or get_offer_listing()
        self.query, self.render = query, render
        self._selection = self.listing.select(query)

    def count(self) -> int:
        return self._selection.count

    def __len__(self) -> int:
        return self._selection.count

    def __getitem__(self, index: slice) -> list[Any]:
        start, stop, _ = index.indices(self._selection.count)
        return self.render(self.listing, self._selection.rows(start, stop - start))


def value_rows(listing: OfferListing, rows: list[int]) -> list[dict]:
    """Rows shaped like `Offer.objects.values(*OFFER_LIST_COLUMNS)`, capacity read live."""
    listed = [listing.row(i) for i in rows]
    capacity = live_capacity([offer.id for offer, _ in listed])
    return [value_row(offer, fields, capacity.get(offer.id, offer.available_nodes)) for offer, fields in listed]


def live_capacity(ids: list[int]) -> dict[int, int | None]:
    """available_nodes of these offers now: one primary-key read, without the ORM's per-query compile cost."""
    if not ids:
        return {}
    table = connection.ops.quote_name(Offer._meta.db_table)
    if connection.vendor == "postgresql":  # one statement text whatever the page size: parsed once, then cached
        sql, params = f"SELECT id, available_nodes FROM {table} WHERE id = ANY(%s)", [ids]
    else:
        sql, params = f"SELECT id, available_nodes FROM {table} WHERE id IN ({', '.join(['%s'] * len(ids))})", ids
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return dict(cursor.fetchall())


def value_row(offer: OfferSnapshot, fields: ListedFields, available_nodes: int | None) -> dict:
    return {
        "id": offer.id, "partner__slug": offer.partner, "region__code": offer.region, "country": fields.country,
        "jurisdiction": fields.jurisdiction, "instance_type": offer.instance_type, "gpu__name": offer.gpu,
        "gpu_memory_gb": fields.gpu_memory_gb, "form_factor": fields.form_factor,
        "gpus_per_node": offer.gpus_per_node, "vcpus": offer.vcpus,
        "memory_gb": offer.memory_gb, "interconnect": offer.interconnect, "price_per_hour": offer.price_per_hour,
        "spot_price_per_hour": offer.spot_price_per_hour, "price_per_gpu_hour": fields.price_per_gpu_hour,
        "available_nodes": available_nodes, "price_status": fields.price_status,
        "price_status_reason": fields.price_status_reason, "updated_at": offer.updated_at,
    }


def model_rows(queryset) -> Render:
    """A renderer that loads the page's offers from `queryset` by primary key, in the listing's order."""

    def render(listing: OfferListing, rows: list[int]) -> list[Offer]:
        ids = [listing.snapshots[i].id for i in rows]
        by_id = queryset.in_bulk(ids)
        return [by_id[pk] for pk in ids if pk in by_id]

    return render
