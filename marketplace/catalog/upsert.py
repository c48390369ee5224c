"""Write one partner's offers: create, update with price history, remove what the partner no longer lists.

Shared by the catalogue import (list prices) and the live partner sync.
"""

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime

from marketplace.models import Offer, Partner, PriceHistory, Region

BATCH = 1000
PRICE_FIELDS = ("price_per_hour", "spot_price_per_hour")


@dataclass
class UpsertCounts:
    """What an offer write changed; the import and sync reports extend it."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    price_changes: int = 0

    def add(self, other: "UpsertCounts") -> None:
        for name in (f.name for f in fields(UpsertCounts)):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def upsert_partner_offers(partner: Partner, rows: Iterable[tuple[Region, str, dict]], *, now: datetime,
                          confirm_unchanged: bool) -> UpsertCounts:
    """`rows` are (region, instance type, offer columns); the first row of a shape wins.

    `confirm_unchanged`: a live partner that lists an offer again confirms its price (fresh `updated_at`).
    """
    existing = {(o.region_id, o.instance_type): o for o in partner.offers.all()}
    seen, to_create, to_update, unchanged, history = set(), [], [], [], []
    fields: set[str] = set()
    for region, instance_type, values in rows:
        key = (region.pk, instance_type)
        if key in seen:
            continue
        seen.add(key)
        offer = existing.get(key)
        if offer is None:
            to_create.append(Offer(partner=partner, region=region, instance_type=instance_type, updated_at=now,
                                   **values))
            continue
        changed = {name for name, value in values.items() if getattr(offer, name) != value}
        if not changed:
            unchanged.append(offer.pk)
            continue
        if changed & set(PRICE_FIELDS):
            history.append(PriceHistory(offer=offer, recorded_at=now, **{f: values[f] for f in PRICE_FIELDS}))
        for name, value in values.items():
            setattr(offer, name, value)
        offer.updated_at = now
        fields |= set(values)
        to_update.append(offer)
    created = Offer.objects.bulk_create(to_create, batch_size=BATCH)
    Offer.objects.bulk_update(to_update, sorted(fields | {"updated_at"}), batch_size=BATCH)
    if confirm_unchanged:
        Offer.objects.filter(pk__in=unchanged).update(updated_at=now)
    price_changes = len(history)
    history += [PriceHistory(offer=o, recorded_at=now, **{f: getattr(o, f) for f in PRICE_FIELDS}) for o in created]
    PriceHistory.objects.bulk_create(history, batch_size=BATCH)
    vanished = [offer.pk for key, offer in existing.items() if key not in seen]
    Offer.objects.filter(pk__in=vanished).delete()
    return UpsertCounts(created=len(created), updated=len(to_update), unchanged=len(unchanged),
                        removed=len(vanished), price_changes=price_changes)
