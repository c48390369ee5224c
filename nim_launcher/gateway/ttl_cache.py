"""A tiny in-process cache with expiry, for lookups on every gateway request (keys, routes)."""

import time
from collections.abc import Hashable
from typing import Any

from django.conf import settings

_MISSING = object()
MAX_ENTRIES = 10_000


class TtlCache:
    def __init__(self) -> None:
        self._entries: dict[Hashable, tuple[float, Any]] = {}

    @staticmethod
    def ttl() -> float:
        return float(getattr(settings, "GATEWAY_CACHE_TTL_S", 2.0))

    def get(self, key: Hashable) -> Any:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return _MISSING
        return entry[1]

    def set(self, key: Hashable, value: Any) -> None:
        ttl = self.ttl()
        if ttl <= 0:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + ttl, value)

    def clear(self) -> None:
        self._entries.clear()


def is_missing(value: Any) -> bool:
    return value is _MISSING
