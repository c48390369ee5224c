"""The one HTTP seam for REST adapters: a requests.Session with timeouts and safe retries.

Retries (with exponential backoff) happen only for transient failures — connection errors,
timeouts and 5xx — and only when the call is idempotent: GET/PUT/DELETE/HEAD, or a POST that
carries an Idempotency-Key header. A plain POST is sent once, because repeating it could start a
second machine; a call overrides its method's default with `idempotent=` (a PUT that rents a
machine is sent once, a search sent as POST is retried). A 429 is different: the partner refused
the request before acting on it, so every method is repeated after the partner's `Retry-After`, for up to `rate_limit_wait_s` in all — a
rate limit slows a launch down but never fails it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests

from .base import AUTH_FAILED, INVALID_REQUEST, NO_CAPACITY, NOT_FOUND, QUOTA_EXCEEDED, TRANSIENT, ProviderError

BAD_URL_ERRORS = (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema,
                  requests.exceptions.InvalidHeader, requests.exceptions.URLRequired)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRY_STATUSES = frozenset({500, 502, 503, 504})
RATE_LIMITED = 429
MAX_RETRY_AFTER_S = 60.0
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
        rate_limit_wait_s: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.rate_limit_wait_s = rate_limit_wait_s
        self.sleep = sleep
        self.session = session or build_session(headers)

    def request(self, method: str, path: str, *, headers: dict[str, str] | None = None,
                idempotent: bool | None = None, **kwargs: Any) -> requests.Response:
        """Send one request (retrying when safe); return the last response, 4xx/5xx included."""
        method = method.upper()
        retryable = method in IDEMPOTENT_METHODS or "Idempotency-Key" in (headers or {})
        if idempotent is not None:
            retryable = idempotent
        url = f"{self.base_url}/{path.lstrip('/')}"
        attempt, limited, rate_limited_s = 0, 0, 0.0
        while True:
            try:
                response = self.session.request(method, url, headers=headers, timeout=self.timeout, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if not retryable or attempt >= self.retries:
                    raise ProviderError(TRANSIENT, f"{method} {path}: {type(exc).__name__}") from exc
            except requests.RequestException as exc:  # a malformed URL (permanent), a broken body (transient)
                kind = INVALID_REQUEST if isinstance(exc, BAD_URL_ERRORS) else TRANSIENT
                raise ProviderError(kind, f"{method} {path}: {type(exc).__name__}") from exc
            else:
                if response.status_code == RATE_LIMITED:
                    wait = max(retry_after(response, default=self._delay(limited)), 1.0)  # always progress
                    if rate_limited_s + wait > self.rate_limit_wait_s:
                        return response
                    self.sleep(wait)
                    rate_limited_s, limited = rate_limited_s + wait, limited + 1
                    continue
                if response.status_code not in RETRY_STATUSES or not retryable or attempt >= self.retries:
                    return response
            self.sleep(self._delay(attempt))
            attempt += 1

    def _delay(self, attempt: int) -> float:
        return self.backoff * (2**attempt)


def retry_after(response: requests.Response, *, default: float) -> float:
    """The seconds a 429 asks to wait (`Retry-After` in seconds), capped; `default` when absent."""
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return max(default, 0.0)
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def error_message(body: Any, status: int) -> str:
    """The human message of an error body: `message`, `error` or `detail` (a FastAPI validation `detail` is a
    list of {loc, msg, type}, joined)."""
    if not isinstance(body, dict):
        return f"HTTP {status}"
    detail = body.get("detail")
    if isinstance(detail, list):
        return "; ".join(str(item.get("msg", item)) if isinstance(item, dict) else str(item) for item in detail)
    return str(body.get("message") or body.get("error") or detail or f"HTTP {status}")


def error_kind_from_message(status: int, message: str, *, capacity_words: tuple[str, ...],
                            quota_words: tuple[str, ...], capacity_statuses: frozenset[int] = frozenset(),
                            quota_statuses: frozenset[int] = frozenset()) -> str:
    """The ProviderError kind of an error answer from a vendor that publishes no error codes: read from the
    status, then the words of its message (a 403 is a quota only when the message says so)."""
    text = message.lower()
    if status == RATE_LIMITED or status >= 500:
        return TRANSIENT
    if status == 401:
        return AUTH_FAILED
    if status == 404:
        return NOT_FOUND
    if status in quota_statuses or any(word in text for word in quota_words):
        return QUOTA_EXCEEDED
    if status == 403:
        return AUTH_FAILED
    if status in capacity_statuses or any(word in text for word in capacity_words):
        return NO_CAPACITY
    return INVALID_REQUEST


def json_or_error(response: requests.Response, vendor: str, error_kind: Callable[[int, str], str]) -> Any:
    """The answer's JSON body; an error answer as a ProviderError whose kind `error_kind` reads from the status and
    the message (the body's own, or its text when it is not JSON); a success that is not JSON is transient."""
    try:
        body = response.json()
    except ValueError as exc:
        if response.status_code >= 400:
            raise ProviderError(error_kind(response.status_code, response.text[:200]), response.text[:200]) from exc
        raise ProviderError(TRANSIENT, f"{vendor} answered with a body that is not JSON") from exc
    if response.status_code >= 400:
        message = error_message(body, response.status_code)
        raise ProviderError(error_kind(response.status_code, message), message)
    return body
