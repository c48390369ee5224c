"""The runtime's ASGI application: routing, JSON and server-sent-event responses, readiness, metrics."""

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from .handlers import ApiError, Completion, Engine, served_models, sse_event
from .metrics import Metrics

MAX_BODY_BYTES = 1 << 20
JSON_HEADERS = [(b"content-type", b"application/json")]
SSE_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
               (b"x-accel-buffering", b"no")]
Send = Callable[[dict], Awaitable[None]]
Receive = Callable[[], Awaitable[dict]]


class RuntimeApp:
    """A NIM-compatible server. Readiness turns on `startup_delay` seconds after creation."""

    def __init__(self, model_ids: list[str], *, startup_delay: float = 0.0, token_delay: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = Engine(served_models(model_ids))
        self.metrics = Metrics()
        self.clock = clock
        self.ready_at = clock() + startup_delay
        self.token_delay = token_delay
        self.routes: dict[tuple[str, str], Callable[[dict], Awaitable[Any]]] = {
            ("GET", "/v1/health/ready"): self.health_ready,
            ("GET", "/v1/health/live"): self.health_live,
            ("GET", "/v1/models"): self.list_models,
            ("GET", "/v1/metrics"): self.prometheus,
            ("POST", "/v1/chat/completions"): self.chat,
            ("POST", "/v1/completions"): self.completions,
            ("POST", "/v1/embeddings"): self.embeddings,
        }

    @property
    def ready(self) -> bool:
        return self.clock() >= self.ready_at

    async def __call__(self, scope: dict, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        started, path = time.perf_counter(), scope["path"]
        self.metrics.in_flight += 1
        status = 500
        try:
            status = await self._dispatch(scope, receive, send)
        finally:
            self.metrics.in_flight -= 1
            label = path if any(path == p for _, p in self.routes) else "other"
            self.metrics.observe(label, status, time.perf_counter() - started)

    async def _dispatch(self, scope: dict, receive: Receive, send: Send) -> int:
        handler = self.routes.get((scope["method"], scope["path"]))
        try:
            if handler is None:
                known = any(path == scope["path"] for _, path in self.routes)
                raise ApiError(405 if known else 404, "method not allowed" if known else "not found",
                               type="not_found_error" if not known else "invalid_request_error")
            body = await _read_json(receive) if scope["method"] == "POST" else {}
            result = await handler(body)
        except ApiError as exc:
            return await _send_json(send, exc.status, exc.body())
        if isinstance(result, Completion) and result.stream:
            await self._stream(send, result)
            return 200
        if isinstance(result, tuple):
            status, payload = result
            return await (_send_text(send, status, payload) if isinstance(payload, str)
                          else _send_json(send, status, payload))
        return await _send_json(send, 200, result.response() if isinstance(result, Completion) else result)

    async def _stream(self, send: Send, completion: Completion) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
        for chunk in completion.chunks():
            await send({"type": "http.response.body", "body": sse_event(chunk), "more_body": True})
            if self.token_delay:
                await asyncio.sleep(self.token_delay)
        await send({"type": "http.response.body", "body": sse_event("[DONE]"), "more_body": False})

    def _require_ready(self) -> None:
        if not self.ready:
            raise ApiError(503, "the model is still loading", type="service_unavailable")

    async def health_ready(self, _: dict) -> tuple[int, dict]:
        if not self.ready:
            return 503, {"object": "health.response", "message": "Service is starting", "ready": False}
        return 200, {"object": "health.response", "message": "Service is ready.", "ready": True}

    async def health_live(self, _: dict) -> tuple[int, dict]:
        return 200, {"object": "health.response", "message": "Service is live.", "live": True}

    async def list_models(self, _: dict) -> dict:
        return self.engine.model_list()

    async def prometheus(self, _: dict) -> tuple[int, str]:
        return 200, self.metrics.render(ready=self.ready)

    async def chat(self, body: dict) -> Completion:
        self._require_ready()
        return self._counted(self.engine.chat(body))

    async def completions(self, body: dict) -> Completion:
        self._require_ready()
        return self._counted(self.engine.completions(body))

    async def embeddings(self, body: dict) -> dict:
        self._require_ready()
        result = self.engine.embeddings(body)
        self.metrics.count_tokens(result["usage"]["prompt_tokens"], 0)
        return result

    def _counted(self, completion: Completion) -> Completion:
        usage = completion.usage
        self.metrics.count_tokens(usage["prompt_tokens"], usage["completion_tokens"])
        return completion


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _read_json(receive: Receive) -> dict:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ApiError(400, "client disconnected")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiError(413, "request body too large")
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    try:
        body = json.loads(b"".join(chunks) or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ApiError(400, "request body must be JSON", param="body") from None
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object", param="body")
    return body


async def _send_json(send: Send, status: int, payload: Any) -> int:
    return await _send_bytes(send, status, json.dumps(payload).encode(), JSON_HEADERS)


async def _send_text(send: Send, status: int, text: str) -> int:
    return await _send_bytes(send, status, text.encode(), [(b"content-type", b"text/plain; version=0.0.4")])


async def _send_bytes(send: Send, status: int, body: bytes, headers: Iterable[tuple[bytes, bytes]]) -> int:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    return status
