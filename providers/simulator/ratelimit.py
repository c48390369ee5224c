"""Lambda-style rate limits: at most one request per interval per (partner, bucket), on the store's clock."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable


class RateLimiter:
    def __init__(self, clock: Callable[[], float]):
        self.clock = clock
        self._next_allowed: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def wait_s(self, slug: str, bucket: str, interval_s: float) -> int:
        """0 and count the request when it is allowed now; else the whole seconds to wait (Retry-After)."""
        if interval_s <= 0:
            return 0
        with self._lock:
            now = self.clock()
            allowed_at = self._next_allowed.get((slug, bucket), now)
            if now < allowed_at:
                return max(1, math.ceil(allowed_at - now))
            self._next_allowed[(slug, bucket)] = now + interval_s
            return 0


def launch_limits(request, faults, method: str, launch_path: tuple[str, ...]) -> list[tuple[str, float]]:
    """The buckets a request counts against: every request the request interval; a launch (`method` on a path
    ending in `launch_path`) the launch interval too."""
    limits = [("requests", faults.request_interval_s)]
    if request.method == method and tuple(request.parts[-len(launch_path):]) == launch_path:
        limits.append(("launch", faults.launch_interval_s))
    return limits
