"""Spot interruption notices from the instance metadata service (AWS: `spot/instance-action`).

EC2 announces a spot interruption two minutes ahead at `<metadata>/latest/meta-data/spot/instance-action`
(`{"action": "terminate", "time": "2026-01-01T00:02:00Z"}`; 404 until then). The agent polls it every
`POLL_S` while it waits for the next reading, ends the wait at once when a notice appears, and sends the
notice as the heartbeat's `spot_interruption`, so the broker can start the replacement before the node goes.
IMDSv2 first (a session token), IMDSv1 when the token call is refused. Off (no URL) on partners without it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import requests

log = logging.getLogger(__name__)
POLL_S = 5.0
TIMEOUT_S = 1.0
TOKEN_PATH = "/latest/api/token"
ACTION_PATH = "/latest/meta-data/spot/instance-action"
TOKEN_TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
ACTIONS = ("terminate", "stop", "hibernate")


def read_notice(base_url: str, *, session: requests.Session | None = None, timeout: float = TIMEOUT_S) -> dict | None:
    """The pending interruption `{"action", "time"}`, or None (none announced, or the service is unreachable)."""
    http = session or requests.Session()
    base = base_url.rstrip("/")
    headers = {}
    try:
        token = http.put(base + TOKEN_PATH, headers={TOKEN_TTL_HEADER: "60"}, timeout=timeout)
        if token.status_code == 200 and token.text:
            headers[TOKEN_HEADER] = token.text.strip()
        answer = http.get(base + ACTION_PATH, headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        log.debug("instance metadata unreachable: %s", type(exc).__name__)
        return None
    if answer.status_code != 200:
        return None
    try:
        body = answer.json()
    except ValueError:
        return None
    if not isinstance(body, dict) or body.get("action") not in ACTIONS or not isinstance(body.get("time"), str):
        return None
    return {"action": body["action"], "time": body["time"]}


class SpotWatch:
    """Remembers the latest notice; `poll()` says whether a new one appeared since the last call."""

    def __init__(self, base_url: str, *, read: Callable[[str], dict | None] = read_notice):
        self.base_url, self._read = base_url, read
        self.notice: dict | None = None

    def poll(self) -> bool:
        notice = self._read(self.base_url)
        if notice is None or notice == self.notice:
            return False
        log.warning("spot interruption notice: %s at %s", notice["action"], notice["time"])
        self.notice = notice
        return True

    def report_fields(self) -> dict:
        """What the heartbeat adds: the notice, once there is one."""
        return {"spot_interruption": self.notice} if self.notice else {}


def wait_watching(wait: Callable[[float], list], seconds: float, watch: SpotWatch | None,
                  clock: Callable[[], float] = time.monotonic) -> list:
    """`wait(seconds)` in slices of POLL_S, ended early by a new notice (or by what `wait` returns)."""
    if watch is None:
        return wait(seconds)
    deadline = clock() + seconds
    while True:
        left = deadline - clock()
        if left <= 0:
            return []
        events = wait(min(left, POLL_S))
        if events or watch.poll():
            return events
