"""Forwarding to replicas: one pooled httpx.AsyncClient per event loop, retry once on another replica."""

import asyncio
import json
import time
import weakref
from collections.abc import AsyncIterator

import httpx
from django.http import HttpResponse, StreamingHttpResponse

from . import stats
from .errors import GatewayError
from .routing import Route, Target, balancer, no_ready_replica

RETRY_STATUSES = frozenset({502, 503, 504})
MAX_ATTEMPTS = 2
TIMEOUT = httpx.Timeout(connect=3.0, read=300.0, write=30.0, pool=10.0)
LIMITS = httpx.Limits(max_connections=512, max_keepalive_connections=128, keepalive_expiry=30.0)
_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient]" = weakref.WeakKeyDictionary()


def client() -> httpx.AsyncClient:
    """The shared client of the running loop (connections are pooled per loop; a client cannot cross loops)."""
    loop = asyncio.get_running_loop()
    shared = _clients.get(loop)
    if shared is None or shared.is_closed:
        # trust_env=False: replicas are reached directly, never through an HTTP(S)_PROXY of the web host.
        shared = _clients[loop] = httpx.AsyncClient(timeout=TIMEOUT, limits=LIMITS, trust_env=False)
    return shared


async def _open(target: Target, path: str, content: bytes) -> httpx.Response:
    http = client()
    request = http.build_request("POST", target.endpoint + path, content=content,
                                 headers={"content-type": "application/json"})
    return await http.send(request, stream=True)


async def forward(route: Route, path: str, content: bytes, *, stream: bool) -> HttpResponse:
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
        except (httpx.TransportError, GatewayError) as exc:
            balancer.release(target)
            balancer.mark_failed(target)
            failure = GatewayError(502, f"Deployment `{route.name}`: the replica failed ({_describe(exc)}).",
                                   code="replica_failed")
            continue
        balancer.release(target)
        _finish(route, started, ok=upstream.status_code < 500)
        content_type = upstream.headers.get("content-type", "application/json")
        return HttpResponse(body, status=upstream.status_code, content_type=content_type)
    _finish(route, started, ok=False)
    raise failure


def _streaming(upstream: httpx.Response, route: Route, target: Target, started: float) -> StreamingHttpResponse:
    response = StreamingHttpResponse(_relay(upstream, route, target, started),
                                     content_type=upstream.headers.get("content-type", "text/event-stream"))
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


async def _relay(upstream: httpx.Response, route: Route, target: Target, started: float) -> AsyncIterator[bytes]:
    """Pass chunks on as they arrive; a replica dying mid-stream ends the stream with an SSE error event."""
    ok = False
    try:
        async for chunk in upstream.aiter_raw():
            yield chunk
        ok = True
    except httpx.TransportError as exc:
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
