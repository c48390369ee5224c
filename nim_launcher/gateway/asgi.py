"""The gateway's four OpenAI routes as a lean ASGI app, in front of Django's handler in the same process.

Django's handler spends more on a proxied request than the gateway itself does: an HttpRequest, the
middleware chain, URL resolution, and the request_started / request_finished signals, each a hop to the sync
thread and back. This app reads method, path, Authorization and body straight from the ASGI scope and calls
the same `proxy` / `model_list` as the Django views, so keys, routing, balancing, statistics and error
bodies are the same code. What the gateway's Django middleware did is done here alike: the request guard's
refusals (NUL bytes in the URL, oversized bodies) and SecurityMiddleware's response headers. Any other path,
and every path when SECURE_SSL_REDIRECT is on, goes to the Django handler.
"""

import asyncio
import logging
from contextlib import aclosing
from types import SimpleNamespace

from django.conf import settings
from django.http import HttpResponse
from django.middleware.security import SecurityMiddleware

from marketplace.json_body import BodyError, max_body_bytes, too_large

from .errors import GatewayError, refused
from .upstream import Relayed
from .views import model_list, proxy

logger = logging.getLogger("nim_launcher.gateway")

PROXIED = frozenset({"/v1/chat/completions", "/v1/completions", "/v1/embeddings"})
MODELS = "/v1/models"


def _is_secure(scope: dict, headers: dict[bytes, bytes]) -> bool:
    """HttpRequest.is_secure() for this request."""
    proxy_header = settings.SECURE_PROXY_SSL_HEADER
    if proxy_header:
        name, value = proxy_header
        forwarded = headers.get(name.removeprefix("HTTP_").replace("_", "-").lower().encode(), b"")
        return forwarded.decode("latin-1").split(",", 1)[0].strip() == value
    return scope.get("scheme") == "https"


class _Scheme:
    """What SecurityMiddleware.process_response asks of a request: is it HTTPS."""

    def __init__(self, scope: dict, headers: dict[bytes, bytes]) -> None:
        self.scope, self.headers = scope, headers

    def is_secure(self) -> bool:
        return _is_secure(self.scope, self.headers)


class GatewayApp:
    def __init__(self, fallback) -> None:
        self.fallback = fallback
        self.security = SecurityMiddleware(lambda request: None)
        # What process_response adds to a response that has none of its headers, over HTTP and over HTTPS: a
        # relayed answer's headers are none of them, so it gets these without an HttpResponse of its own.
        self.added_headers = {secure: _headers(self.security.process_response(
            SimpleNamespace(is_secure=lambda secure=secure: secure), _headerless())) for secure in (False, True)}
        self.scheme_matters = self.added_headers[False] != self.added_headers[True]

    async def __call__(self, scope: dict, receive, send) -> None:
        path = scope["path"]
        if (path not in PROXIED and path != MODELS) or settings.SECURE_SSL_REDIRECT:
            await self.fallback(scope, receive, send)
            return
        headers = dict(scope["headers"])  # a repeated header keeps its last value
        try:
            response = await self._answer(scope, path, headers, receive)
        except Exception:
            logger.exception("gateway request failed: %s %s", scope["method"], path)
            response = GatewayError(500, "The gateway failed on this request.", code="internal_error").response()
        if isinstance(response, Relayed):
            added = self.added_headers[self.scheme_matters and _is_secure(scope, headers)]
            await _send_relayed(response, added, send, receive)
        elif response is not None:
            self.security.process_response(_Scheme(scope, headers), response)
            await _send(response, send, receive)

    async def _answer(self, scope: dict, path: str, headers: dict[bytes, bytes],
                      receive) -> Relayed | HttpResponse | None:
        method = scope["method"]
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        error = _guard(path, scope.get("query_string", b""), headers.get(b"content-length"))
        if error is not None:
            return refused(error)
        if path == MODELS:
            return await model_list(method=method, authorization=authorization)
        raw = b""
        if method == "POST":
            try:
                raw = await _body(receive)
            except BodyError as exc:
                return refused(exc)
            if raw is None:
                return None  # the client left
        return await proxy(path, method=method, authorization=authorization, raw=raw)


def _guard(path: str, query: bytes, content_length: bytes | None) -> BodyError | None:
    """broker.middleware.RequestGuardMiddleware's refusals."""
    if "\x00" in path or b"%00" in query or b"\x00" in query:
        return BodyError(400, "NUL characters are not allowed in the URL.", field="url")
    try:
        length = int(content_length or 0)
    except ValueError:
        return BodyError(400, "Content-Length must be a number.", field="body")
    return too_large() if length > max_body_bytes() else None


async def _body(receive) -> bytes | None:
    """The whole request body (None if the client disconnected); BodyError 413 past the size limit."""
    limit, parts, size = max_body_bytes(), [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large()
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


def _headerless() -> HttpResponse:
    response = HttpResponse()
    del response["Content-Type"]
    return response


def _headers(response: HttpResponse) -> list[tuple[bytes, bytes]]:
    return _encoded(response.items())


def _encoded(headers) -> list[tuple[bytes, bytes]]:
    return [(name.encode("ascii"), value.encode("latin-1")) for name, value in headers]


async def _send(response: HttpResponse, send, receive) -> None:
    if not response.streaming:
        await _send_whole(response.status_code, _headers(response), response.content, send)
    else:
        await _send_stream(response.status_code, _headers(response), aiter(response), send, receive)


async def _send_relayed(answer: Relayed, added: list[tuple[bytes, bytes]], send, receive) -> None:
    headers = [*_encoded(answer.headers), *added]
    if answer.stream is None:
        await _send_whole(answer.status, headers, answer.body, send)
    else:
        await _send_stream(answer.status, headers, answer.stream, send, receive)


async def _send_whole(status: int, headers: list[tuple[bytes, bytes]], body: bytes, send) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _send_stream(status: int, headers: list[tuple[bytes, bytes]], chunks, send, receive) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    relay = asyncio.ensure_future(_relay(chunks, send))
    gone = asyncio.ensure_future(_disconnected(receive))
    await asyncio.wait((relay, gone), return_when=asyncio.FIRST_COMPLETED)
    if relay.done():
        gone.cancel()
        relay.result()
        await send({"type": "http.response.body"})
    else:  # the client left mid-stream: stop reading from the replica (its relay's cleanup runs)
        relay.cancel()
        await asyncio.gather(relay, return_exceptions=True)


async def _relay(chunks, send) -> None:
    async with aclosing(chunks) as content:
        async for chunk in content:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})


async def _disconnected(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
