"""Per-deployment gateway traffic: request counts, rate, latency percentiles, requests in flight.

Each web process counts in memory (no I/O on the request path) and, at most every FLUSH_INTERVAL_S,
writes a snapshot to the Django cache under its own process key. `deployment_stats` merges this
process's live numbers with the other processes' snapshots, so the autoscaler (a Celery worker) and the
dashboard see all web processes when the cache is shared (Redis, database cache). With the default
local-memory cache only the calling process's own traffic is visible.
"""

import asyncio
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache

WINDOW_S = 60
MAX_SAMPLES = 4096
FLUSH_INTERVAL_S = 5.0
SNAPSHOT_TTL_S = 600
IN_FLIGHT_FRESH_S = 30.0
PROCESS_ID = uuid.uuid4().hex[:12]


@dataclass
class _Series:
    total: int = 0
    errors: int = 0
    in_flight: int = 0
    per_second: dict[int, int] = field(default_factory=dict)
    samples: deque = field(default_factory=lambda: deque(maxlen=MAX_SAMPLES))

    def snapshot(self, now: float) -> dict[str, Any]:
        floor = now - WINDOW_S
        return {"at": now, "total": self.total, "errors": self.errors, "in_flight": self.in_flight,
                "per_second": {s: c for s, c in self.per_second.items() if s >= floor},
                "samples": [(t, ms) for t, ms in self.samples if t >= floor]}


_series: dict[int, _Series] = {}
_last_flush = 0.0
_flush_task: asyncio.Task | None = None


def _get(deployment_id: int) -> _Series:
    return _series.setdefault(deployment_id, _Series())


def request_started(deployment_id: int) -> None:
    _get(deployment_id).in_flight += 1


def request_finished(deployment_id: int, latency_ms: float, *, ok: bool, now: float | None = None) -> None:
    now = time.time() if now is None else now
    series = _get(deployment_id)
    series.in_flight = max(0, series.in_flight - 1)
    series.total += 1
    series.errors += not ok
    second = int(now)
    series.per_second[second] = series.per_second.get(second, 0) + 1
    if len(series.per_second) > WINDOW_S * 2:
        series.per_second = {s: c for s, c in series.per_second.items() if s >= now - WINDOW_S}
    series.samples.append((now, latency_ms))


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def _cache_keys(deployment_id: int) -> tuple[str, str]:
    return f"gpub:gw:{deployment_id}:procs", f"gpub:gw:{deployment_id}:proc:"


def _other_snapshots(deployment_id: int) -> list[dict]:
    procs_key, prefix = _cache_keys(deployment_id)
    procs = [p for p in (cache.get(procs_key) or []) if p != PROCESS_ID]
    return list(cache.get_many([prefix + p for p in procs]).values()) if procs else []


def deployment_stats(deployment_id: int, *, now: float | None = None) -> dict[str, Any]:
    """requests_total, requests_per_minute (last 60 s), p50_ms / p99_ms (None without traffic), in_flight."""
    now = time.time() if now is None else now
    snapshots = [_get(deployment_id).snapshot(now)] + _other_snapshots(deployment_id)
    floor = now - WINDOW_S
    latencies = [ms for snap in snapshots for t, ms in snap["samples"] if t >= floor]
    return {
        "requests_total": sum(snap["total"] for snap in snapshots),
        "requests_per_minute": sum(c for snap in snapshots for s, c in snap["per_second"].items() if s >= floor),
        "errors_total": sum(snap["errors"] for snap in snapshots),
        "p50_ms": _percentile(latencies, 0.50),
        "p99_ms": _percentile(latencies, 0.99),
        "in_flight": sum(snap["in_flight"] for snap in snapshots if now - snap["at"] <= IN_FLIGHT_FRESH_S),
    }


def flush(*, now: float | None = None) -> None:
    """Write this process's snapshots to the shared cache now."""
    _write(_collect(time.time() if now is None else now))


def _collect(now: float) -> dict[int, dict]:
    global _last_flush
    _last_flush = now
    return {deployment_id: series.snapshot(now) for deployment_id, series in list(_series.items())}


def _write(snapshots: dict[int, dict]) -> None:
    for deployment_id, snapshot in snapshots.items():
        procs_key, prefix = _cache_keys(deployment_id)
        cache.set(prefix + PROCESS_ID, snapshot, SNAPSHOT_TTL_S)
        procs = cache.get(procs_key) or []
        if PROCESS_ID not in procs:  # re-registers itself if a concurrent writer dropped it
            cache.set(procs_key, [*procs[-63:], PROCESS_ID], SNAPSHOT_TTL_S)


def schedule_flush() -> None:
    """From the event loop: snapshot here (cheap), write to the cache in a thread, at most every 5 s."""
    global _flush_task
    now = time.time()
    if now - _last_flush < FLUSH_INTERVAL_S or (_flush_task and not _flush_task.done()):
        return
    _flush_task = asyncio.get_running_loop().create_task(asyncio.to_thread(_write, _collect(now)))


def reset() -> None:
    """Forget this process's counters (tests)."""
    global _last_flush
    _series.clear()
    _last_flush = 0.0
