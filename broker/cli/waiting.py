"""Polling a rental or deployment until it reaches a state of interest or the deadline passes."""

from collections.abc import Callable, Collection
from dataclasses import dataclass


@dataclass(frozen=True)
class WaitResult:
    resource: dict
    timed_out: bool
    waited: float


def wait_for_state(
    fetch: Callable[[], dict],
    *,
    subject: str,
    stop_states: Collection[str],
    timeout: float,
    interval: float,
    on_state: Callable[[str, str], None],
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    first: dict | None = None,
) -> WaitResult:
    """Poll `fetch` every `interval` seconds until its `state` is in `stop_states` or `timeout` passes."""
    started = clock()
    resource = first if first is not None else fetch()
    while True:
        state = str(resource.get("state", "unknown"))
        on_state(subject, state)
        if state in stop_states:
            return WaitResult(resource, timed_out=False, waited=clock() - started)
        remaining = timeout - (clock() - started)
        if remaining <= 0:
            return WaitResult(resource, timed_out=True, waited=clock() - started)
        sleep(min(interval, remaining))
        resource = fetch()
