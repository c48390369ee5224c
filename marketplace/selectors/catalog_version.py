"""The catalogue version counter every process compares to know when its offer index is out of date."""

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from marketplace.models import CatalogVersion


def current_catalog_version() -> int:
    """The current version (0 before the first catalogue change); one indexed single-row query."""
    version = CatalogVersion.objects.order_by("pk").values_list("version", flat=True).first()
    return version or 0


def bump_catalog_version() -> None:
    """Mark the catalogue changed; call after every write to partners, regions or offers."""
    with transaction.atomic():
        if not CatalogVersion.objects.update(version=F("version") + 1, changed_at=timezone.now()):
            _, created = CatalogVersion.objects.get_or_create(pk=1, defaults={"version": 1})
            if not created:  # another writer created the row between our update and get_or_create
                CatalogVersion.objects.update(version=F("version") + 1, changed_at=timezone.now())
    from marketplace.selectors.offer_index import expire_version_check

    expire_version_check()
