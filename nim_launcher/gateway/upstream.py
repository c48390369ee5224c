"""Forwarding to replicas: pooled keep-alive connections per event loop, retry once on another replica."""

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from django.http import HttpResponse, StreamingHttpResponse

from . import stats
from .errors import GatewayError
from .replica_http import ReplicaError, ReplicaResponse, pool
from .routing import Route, Target, balancer, no_ready_replica

RETRY_STATUSES = frozenset({502, 503, 504})
MAX_ATTEMPTS = 2


@dataclass(frozen=True)
class Relayed:
    """A replica's answer as the gateway passes it on: status, headers, then the body whole or as a stream.

    The lean ASGI app sends it as it is; the Django views send `as_django()`, the same status, headers and body.
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None

    def as_django(self) -> HttpResponse:
        response = (HttpResponse(self.body, status=self.status) if self.stream is None
                    else StreamingHttpResponse(self.stream, status=self.status))
        for name, value in self.headers:
            response[name] = value
        return response


async def _open(target: Target, path: str, content: bytes) -> ReplicaResponse:
    return await pool().post(target.endpoint + path, content)


async def forward(route: Route, path: str, content: bytes, *, stream: bool) -> Relayed:
    """Send to the least busy ready replica; a replica that fails before answering is retried elsewhere once."""
    started, tried = time.perf_counter(), set()
    stats.request_started(route.deployment_id)
    failure: GatewayError = no_ready_replica(route)
    for _ in range(MAX_ATTEMPTS):
        target = balancer.pick(route, tried)
        if target is None:
            break
        tried.add(target.replica_id)
        balancer.acquire(target)
        try:
            upstream = await _open(target, path, content)
            if upstream.status_code in RETRY_STATUSES and len(tried) < min(MAX_ATTEMPTS, len(route.targets)):
                await upstream.aclose()
                raise GatewayError(502, f"replica answered {upstream.status_code}", code="replica_unavailable")
            if stream and upstream.status_code == 200:
                return _streaming(upstream, route, target, started)
            body = await upstream.aread()
            await upstream.aclose()
        except (ReplicaError, GatewayError) as exc:
            balancer.release(target)
            balancer.mark_failed(target)
            failure = GatewayError(502, f"Deployment `{route.name}`: the replica failed ({_describe(exc)}).",
                                   code="replica_failed")
            continue
        balancer.release(target)
        _finish(route, started, ok=upstream.status_code < 500)
        return Relayed(upstream.status_code, (("Content-Type", upstream.headers.get("content-type", "application/json")),),
                       body)
    _finish(route, started, ok=False)
    raise failure


def _streaming(upstream: ReplicaResponse, route: Route, target: Target, started: float) -> Relayed:
    headers = (("Content-Type", upstream.headers.get("content-type", "text/event-stream")),
               ("Cache-Control", "no-cache"), ("X-Accel-Buffering", "no"))
    return Relayed(200, headers, stream=_relay(upstream, route, target, started))


async def _relay(upstream: ReplicaResponse, route: Route, target: Target, started: float) -> AsyncIterator[bytes]:
    """Pass chunks on as they arrive; a replica dying mid-stream ends the stream with an SSE error event."""
    ok = False
    try:
        async for chunk in upstream.aiter_raw():
            yield chunk
        ok = True
    except ReplicaError as exc:
        balancer.mark_failed(target)
        error = {"error": {"message": f"the replica failed mid-stream ({_describe(exc)})",
                           "type": "upstream_error", "code": "replica_failed"}}
        yield f"data: {json.dumps(error)}\n\n".encode()
    finally:
        await upstream.aclose()
        balancer.release(target)
        _finish(route, started, ok=ok)


def _finish(route: Route, started: float, *, ok: bool) -> None:
    stats.request_finished(route.deployment_id, (time.perf_counter() - started) * 1000, ok=ok)
    stats.schedule_flush()


def _describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
