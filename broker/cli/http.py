"""The one HTTP seam: `requests` with bounded retries, and API errors mapped to exit codes."""

import email.utils
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import requests

from broker.cli.errors import ApiError, AuthError, CliError, NoCapacity, ValidationFailed

RETRY_STATUSES = frozenset({429, 502, 503, 504})
USER_AGENT = "brokerctl/0.1"


def new_idempotency_key() -> str:
    return f"brokerctl-{uuid.uuid4()}"


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """Parse `Retry-After` (seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class ApiClient:
    """Calls `/api/v1/…` on one broker; retries 429/502/503/504 and connection errors with backoff."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        max_retries: int = 5,
        backoff: float = 1.0,
        max_delay: float = 60.0,
        request_timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        notify: Callable[[str], None] | None = None,
        session: requests.Session | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.max_retries, self.backoff, self.max_delay = max_retries, backoff, max_delay
        self.request_timeout = request_timeout
        self.sleep = sleep
        self.notify = notify or (lambda message: None)
        self.session = session or requests.Session()
        self.session.headers.update({
            "Authorization": f"Bearer {api_key}", "Accept": "application/json", "User-Agent": USER_AGENT,
        })

    def get(self, path: str, params: dict | None = None) -> Any:
        data = _json_or_none(self.request("GET", path, params=params))
        if data is None:
            raise ApiError(f"GET {path}: the answer is not JSON; is {self.base_url} a GPU Broker?")
        return data

    def post(self, path: str, body: dict | None = None, *, idempotency_key: str | None = None) -> Any:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return _json_or_none(self.request("POST", path, json=body or {}, headers=headers))

    def delete(self, path: str) -> Any:
        return _json_or_none(self.request("DELETE", path))

    def get_text(self, path: str, params: dict | None = None) -> str:
        return self.request("GET", path, params=params).text

    def paginate(self, path: str, params: dict | None = None, *, limit: int | None = None) -> Iterator[dict]:
        """Yield results across pages, following `next` on this broker's origin only."""
        page: Any = self.get(path, params)
        yielded = 0
        while True:
            items = page if isinstance(page, list) else page.get("results", [])
            for item in items:
                if limit is not None and yielded >= limit:
                    return
                yielded += 1
                yield item
            following = None if isinstance(page, list) else page.get("next")
            if not following or (limit is not None and yielded >= limit):
                return
            page = self.get(self._same_origin_path(following))

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = f"{self.base_url}{path}"
        for attempt in range(self.max_retries + 1):
            try:
                response = self.session.request(method, url, timeout=self.request_timeout, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if attempt == self.max_retries:
                    raise ApiError(f"cannot reach {self.base_url}: {type(exc).__name__}") from None
                self._pause(attempt, None, f"{method} {path}: connection failed")
                continue
            if response.status_code in RETRY_STATUSES and attempt < self.max_retries:
                hint = retry_after_seconds(response.headers.get("Retry-After"))
                self._pause(attempt, hint, f"{method} {path}: HTTP {response.status_code}")
                continue
            if response.status_code >= 400:
                raise api_error(response)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _pause(self, attempt: int, hint: float | None, what: str) -> None:
        delay = min(self.max_delay, hint if hint is not None else self.backoff * 2 ** attempt)
        self.notify(f"{what}; retry {attempt + 1}/{self.max_retries} in {delay:g}s")
        self.sleep(delay)

    def _same_origin_path(self, link: str) -> str:
        # A proxy may rewrite scheme or host in `next`; keep the key on the configured origin.
        parts = urlsplit(link)
        prefix = urlsplit(self.base_url).path
        path = parts.path[len(prefix):] if prefix and parts.path.startswith(prefix) else parts.path
        return f"{path}?{parts.query}" if parts.query else path


def api_error(response: requests.Response) -> CliError:
    """Map a non-2xx answer to the error (and so the exit code) the CLI reports."""
    body = _json_or_none(response)
    body = body if isinstance(body, dict) else {}
    status = response.status_code
    detail = str(body.get("detail") or response.reason or f"HTTP {status}")
    if status == 400 and isinstance(body.get("errors"), dict):
        return ValidationFailed("the broker rejected the request", details={"status": status, "errors": body["errors"]})
    if status in (401, 403):
        return AuthError(f"HTTP {status}: {detail}", details={"status": status})
    if status == 409 and "explanation" in body:
        return NoCapacity(detail, details={"status": status, "explanation": body["explanation"]})
    if isinstance(body.get("errors"), dict):
        return ApiError(f"HTTP {status}: {detail}", details={"status": status, "errors": body["errors"]})
    extra = {"body": body} if body else {}
    return ApiError(f"HTTP {status}: {detail}", details={"status": status, **extra})


def _json_or_none(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None
