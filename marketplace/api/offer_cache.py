"""Response cache for the offers list: the hottest read, keyed by catalogue version and query.

A catalogue change (import, sync, suspension) bumps the version, so cached pages never outlive it; capacity
counts that reservations change in between are at most OFFERS_CACHE_TTL_S old.
"""

import hashlib
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache

from marketplace.selectors.catalog_version import cached_catalog_version


def cache_key(query_params) -> str | None:
    if settings.OFFERS_CACHE_TTL_S <= 0:
        return None
    query = urlencode(sorted((k, v) for k in query_params for v in query_params.getlist(k)))
    return f"offers:v{cached_catalog_version()}:{hashlib.sha256(query.encode()).hexdigest()[:32]}"


def get(key: str | None) -> bytes | None:
    return cache.get(key) if key else None


def put(key: str | None, body: bytes) -> None:
    if key:
        cache.set(key, body, settings.OFFERS_CACHE_TTL_S)
