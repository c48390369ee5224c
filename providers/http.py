"""The one HTTP seam for REST adapters: a requests.Session with timeouts and safe retries.

Retries (with exponential backoff) happen only for transient failures — connection errors,
timeouts, 429 and 5xx — and only when the call is idempotent: GET/PUT/DELETE/HEAD, or a POST
that carries an Idempotency-Key header. A plain POST is sent once, because repeating it could
start a second machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests

from .base import TRANSIENT, ProviderError

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = "gpu-broker/1.0"


def build_session(headers: dict[str, str] | None = None) -> requests.Session:
    """The only place a requests.Session for partner APIs is built."""
    session = requests.Session()
    session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
    session.headers.update(headers or {})
    return session


class HttpClient:
    """JSON over HTTP against one base URL, with a timeout on every call and idempotent-only retries."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.sleep = sleep
        self.session = session or build_session(headers)

    def request(self, method: str, path: str, *, headers: dict[str, str] | None = None,
                **kwargs: Any) -> requests.Response:
        """Send one request (retrying when safe); return the last response, 4xx/5xx included."""
        method = method.upper()
        retryable = method in IDEMPOTENT_METHODS or "Idempotency-Key" in (headers or {})
        attempts = 1 + (self.retries if retryable else 0)
        url = f"{self.base_url}/{path.lstrip('/')}"
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = self.session.request(method, url, headers=headers, timeout=self.timeout, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if last:
                    raise ProviderError(TRANSIENT, f"{method} {path}: {type(exc).__name__}") from exc
            else:
                if response.status_code not in RETRY_STATUSES or last:
                    return response
            self.sleep(self._delay(attempt))
        raise AssertionError("unreachable")

    def _delay(self, attempt: int) -> float:
        return self.backoff * (2**attempt)
