"""Sending the report to the broker: `POST {broker}/api/v1/nodes/{id}/health` with `Authorization: Node <token>`.

Connection errors, timeouts and 5xx answers are retried with exponential backoff; a 4xx answer is
final (a wrong token or a bad report does not get better by retrying). The token is never logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

log = logging.getLogger(__name__)
TIMEOUT_S = 10
RETRIES = 4
BACKOFF_S = 1.0
BACKOFF_MAX_S = 30.0


@dataclass(frozen=True)
class HeartbeatResult:
    ok: bool
    status: int | None
    body: dict | None
    error: str = ""


def health_url(broker: str, node_id: int | str) -> str:
    return f"{broker.rstrip('/')}/api/v1/nodes/{node_id}/health"


def send_heartbeat(report: dict, *, broker: str, node_id: int | str, token: str,
                   session: requests.Session | None = None, retries: int = RETRIES, backoff_s: float = BACKOFF_S,
                   sleep: Callable[[float], None] = time.sleep) -> HeartbeatResult:
    """Post one report; retry transient failures up to `retries` times."""
    url = health_url(broker, node_id)
    http = session or requests.Session()
    headers = {"Authorization": f"Node {token}", "User-Agent": "gpu-broker-node-agent"}
    error, status = "", None
    for attempt in range(retries + 1):
        if attempt:
            sleep(min(backoff_s * 2 ** (attempt - 1), BACKOFF_MAX_S))
        try:
            response = http.post(url, json=report, headers=headers, timeout=TIMEOUT_S)
        except (requests.ConnectionError, requests.Timeout) as exc:
            error, status = f"{type(exc).__name__} talking to {url}", None
            log.warning("heartbeat attempt %d failed: %s", attempt + 1, error)
            continue
        body = _json(response)
        if response.status_code < 400:
            return HeartbeatResult(True, response.status_code, body)
        error, status = f"HTTP {response.status_code} from {url}", response.status_code
        if response.status_code < 500:
            log.error("heartbeat rejected: %s %s", error, body or "")
            return HeartbeatResult(False, response.status_code, body, error)
        log.warning("heartbeat attempt %d failed: %s", attempt + 1, error)
    return HeartbeatResult(False, status, None, error)


def _json(response: requests.Response) -> dict | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
