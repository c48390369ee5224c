"""A small HTTP/1.1 client for the gateway → replica hop: pooled keep-alive connections, httptools parsing.

The gateway sends one kind of request (a JSON POST) to replicas it knows, and relays the answer as it
arrives. httpx did that at about a millisecond of CPU per request in its transport layers (anyio, h11,
URL and header models) — most of what the gateway cost. This client is an asyncio protocol feeding the
same C parser uvicorn uses; connections are pooled per event loop and per replica, and one found closed
by the replica while idle is never reused.
"""

import asyncio
import ssl
import weakref
from collections import deque
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httptools

CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 300.0  # between two pieces of the answer (a long generation streams tokens meanwhile)
MAX_IDLE_PER_REPLICA = 128
MAX_KNOWN_URLS = 10_000

Address = tuple[str, str, int]  # scheme, host, port


class ReplicaError(Exception):
    """The replica could not be reached, or broke the connection before its answer was complete."""


class _Closed(ReplicaError):
    """The connection was closed under the answer."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection; answers one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.open = True
        self.answer: ReplicaResponse | None = None

    # asyncio.Protocol
    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(f"invalid HTTP from the replica: {exc}")

    def eof_received(self) -> bool:
        answer = self.answer
        if answer is not None and answer.reads_until_close():
            self.on_message_complete()
        self._fail("the replica closed the connection")
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(str(exc) if exc else "the replica closed the connection")

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        if self.answer is not None:
            self.answer.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        if self.answer is not None:
            self.answer.status_code = self.parser.get_status_code()
            self.answer.keep_alive = self.parser.should_keep_alive()
            self.answer.wake()

    def on_body(self, body: bytes) -> None:
        if self.answer is not None:
            self.answer.chunks.append(body)
            self.answer.wake()

    def on_message_complete(self) -> None:
        if self.answer is not None:
            self.answer.complete = True
            self.answer.wake()

    def _fail(self, reason: str) -> None:
        self.open = False
        if self.answer is not None and not self.answer.complete:
            self.answer.error = _Closed(reason)
            self.answer.wake()

    def close(self) -> None:
        self.open = False
        if self.transport is not None:
            self.transport.close()


class ReplicaResponse:
    """The replica's answer: status and headers at once, the body as it arrives (read once)."""

    def __init__(self, connection: _Connection, pool: "ReplicaPool", address: Address) -> None:
        self._connection, self._pool, self._address = connection, pool, address
        self.status_code = 0
        self.headers: dict[str, str] = {}
        self.keep_alive = False
        self.chunks: deque[bytes] = deque()
        self.complete = False
        self.error: ReplicaError | None = None
        self._waiter: asyncio.Future | None = None
        self._released = False

    def reads_until_close(self) -> bool:
        """An answer with neither a length nor chunked framing ends when the connection does."""
        return (self.status_code and "content-length" not in self.headers
                and "chunked" not in self.headers.get("transfer-encoding", ""))

    def wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _wait(self) -> None:
        """Until something new arrived: the headers, a piece of body, the end, or a failure."""
        if self.chunks or self.complete:
            return
        if self.error is not None:
            raise self.error
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(READ_TIMEOUT_S):
                await self._waiter
        except TimeoutError:
            raise ReplicaError(f"no answer from the replica within {READ_TIMEOUT_S:g} s") from None
        finally:
            self._waiter = None
        if self.error is not None and not self.chunks and not self.complete:
            raise self.error

    async def _headers(self) -> None:
        while not self.status_code:
            await self._wait()

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        """The body's pieces as the replica sends them."""
        try:
            while True:
                while self.chunks:
                    yield self.chunks.popleft()
                if self.complete:
                    break
                await self._wait()
        finally:
            await self.aclose()

    async def aread(self) -> bytes:
        return b"".join([chunk async for chunk in self.aiter_raw()])

    async def aclose(self) -> None:
        """Hand the connection back when the answer was read to its end; otherwise close it."""
        if self._released:
            return
        self._released = True
        connection = self._connection
        connection.answer = None
        if self.complete and self.keep_alive and connection.open:
            self._pool.give_back(self._address, connection)
        else:
            connection.close()


class ReplicaPool:
    """Idle keep-alive connections of one event loop, by replica address."""

    def __init__(self) -> None:
        self.idle: dict[Address, list[_Connection]] = {}
        self._tls: ssl.SSLContext | None = None
        self._urls: dict[str, tuple[Address, bytes]] = {}

    async def post(self, url: str, content: bytes) -> ReplicaResponse:
        """POST a JSON body; returns once the answer's status and headers are in."""
        address, head_start = self._parsed(url)
        request = b"%sContent-Length: %d\r\n\r\n%s" % (head_start, len(content), content)
        reused = self._idle_connection(address)
        if reused is not None:
            try:
                return await self._exchange(reused, address, request)
            except _Closed:
                pass  # closed by the replica while idle, before it answered this request: once more, fresh
        return await self._exchange(await self._connect(address), address, request)

    def _parsed(self, url: str) -> tuple[Address, bytes]:
        """The replica's address and the request head up to its length (a replica's few URLs, parsed once)."""
        known = self._urls.get(url)
        if known is None:
            parts = urlsplit(url)
            address = (parts.scheme, parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            head = f"POST {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
            if len(self._urls) >= MAX_KNOWN_URLS:
                self._urls.clear()
            known = self._urls[url] = (address, head.encode("latin-1"))
        return known

    def _idle_connection(self, address: Address) -> _Connection | None:
        idle = self.idle.get(address)
        while idle:
            connection = idle.pop()
            if connection.open and not connection.transport.is_closing():
                return connection
        return None

    async def _exchange(self, connection: _Connection, address: Address, request: bytes) -> ReplicaResponse:
        answer = connection.answer = ReplicaResponse(connection, self, address)
        try:
            connection.transport.write(request)
            if not connection.open:
                raise _Closed("the replica closed the connection")
            await answer._headers()
        except BaseException:
            connection.answer = None
            connection.close()
            raise
        return answer

    async def _connect(self, address: Address) -> _Connection:
        scheme, host, port = address
        if scheme == "https" and self._tls is None:
            self._tls = ssl.create_default_context()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                _, connection = await loop.create_connection(
                    _Connection, host, port, ssl=self._tls if scheme == "https" else None)
        except TimeoutError:
            raise ReplicaError(f"connecting to {host}:{port} took over {CONNECT_TIMEOUT_S:g} s") from None
        except OSError as exc:
            raise ReplicaError(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from None
        return connection

    def give_back(self, address: Address, connection: _Connection) -> None:
        idle = self.idle.setdefault(address, [])
        if len(idle) < MAX_IDLE_PER_REPLICA:
            idle.append(connection)
        else:
            connection.close()


_pools: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ReplicaPool]" = weakref.WeakKeyDictionary()


def pool() -> ReplicaPool:
    """The running loop's pool (a connection belongs to the loop that opened it)."""
    loop = asyncio.get_running_loop()
    shared = _pools.get(loop)
    if shared is None:
        shared = _pools[loop] = ReplicaPool()
    return shared
