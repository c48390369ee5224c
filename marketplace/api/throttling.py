"""Per-API-key rate limit on write endpoints: 429 with Retry-After (DRF computes the wait)."""

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class ApiKeyWriteThrottle(SimpleRateThrottle):
    scope = "writes"

    def get_rate(self) -> str:
        return f"{settings.RENTAL_RATE_LIMIT_PER_MIN}/min"

    def get_cache_key(self, request, view):
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return None
        api_key = getattr(request, "api_key", None)
        ident = f"key-{api_key.pk}" if api_key is not None else f"user-{getattr(request.user, 'pk', None)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
