"""The catalogue version counter every process compares to know when its offer index is out of date."""

import time

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from marketplace.models import CatalogVersion


def current_catalog_version() -> int:
    """The current version (0 before the first catalogue change); one indexed single-row query."""
    version = CatalogVersion.objects.order_by("pk").values_list("version", flat=True).first()
    return version or 0


_memo = {"value": 0, "checked": float("-inf"), "bumps": 0}


def cached_catalog_version(max_age_s: float = 1.0) -> int:
    """The version as this process last read it, re-read at most every `max_age_s` (and after its own bumps)."""
    now = time.monotonic()
    if now - _memo["checked"] >= max_age_s:
        _memo["value"], _memo["checked"] = current_catalog_version(), now
    return _memo["value"]


def forget_cached_version() -> None:
    _memo["checked"] = float("-inf")


def local_bumps() -> int:
    """How many times this process changed the catalogue: a reader that saw fewer re-checks the version."""
    return _memo["bumps"]


def bump_catalog_version() -> None:
    """Mark the catalogue changed; call after every write to partners, regions or offers."""
    with transaction.atomic():
        if not CatalogVersion.objects.update(version=F("version") + 1, changed_at=timezone.now()):
            _, created = CatalogVersion.objects.get_or_create(pk=1, defaults={"version": 1})
            if not created:  # another writer created the row between our update and get_or_create
                CatalogVersion.objects.update(version=F("version") + 1, changed_at=timezone.now())
    forget_cached_version()
    _memo["bumps"] += 1
