"""The gateway's replica client against raw HTTP servers: keep-alive reuse, stale connections, framing, failures."""

import asyncio

import pytest

from nim_launcher.gateway.replica_http import ReplicaError, ReplicaPool


async def _serve(answers: list[bytes], *, close_after_each: bool = False):
    """A server that reads one request head+body per answer and writes the next canned answer."""
    connections = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        while answers:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length")))
            await reader.readexactly(length)
            writer.write(answers.pop(0))
            await writer.drain()
            if close_after_each:
                break
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", connections


def _ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s" % (
        len(body), extra, body)


def test_keep_alive_connection_is_reused_and_a_stale_one_replaced():
    async def scenario():
        server, url, connections = await _serve([_ok(b'{"a":1}'), _ok(b'{"a":2}')])
        pool = ReplicaPool()
        first = await (await pool.post(url + "/v1/x", b"{}")).aread()
        second = await (await pool.post(url + "/v1/x", b"{}")).aread()
        assert (first, second, len(connections)) == (b'{"a":1}', b'{"a":2}', 1)
        server.close()
        stale, url2, _ = await _serve([_ok(b'{"b":1}'), _ok(b'{"b":2}')], close_after_each=True)
        assert await (await pool.post(url2 + "/v1/x", b"{}")).aread() == b'{"b":1}'
        await asyncio.sleep(0.05)  # the server closed the idle connection
        assert await (await pool.post(url2 + "/v1/x", b"{}")).aread() == b'{"b":2}'
        stale.close()

    asyncio.run(scenario())


def test_chunked_pieces_arrive_one_by_one_and_a_body_until_close_is_read_whole():
    async def scenario():
        chunked = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"5\r\ndata1\r\n5\r\ndata2\r\n0\r\n\r\n")
        until_close = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it"
        server, url, _ = await _serve([chunked])
        answer = await ReplicaPool().post(url + "/v1/x", b"{}")
        assert answer.headers["content-type"] == "text/event-stream"
        assert [piece async for piece in answer.aiter_raw()] == [b"data1", b"data2"]
        server.close()
        server, url, _ = await _serve([until_close], close_after_each=True)
        assert await (await ReplicaPool().post(url + "/v1/x", b"{}")).aread() == b"all of it"
        server.close()

    asyncio.run(scenario())


def test_a_replica_dying_mid_answer_or_refusing_connections_is_a_replica_error():
    async def scenario():
        cut = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part"
        server, url, _ = await _serve([cut], close_after_each=True)
        answer = await ReplicaPool().post(url + "/v1/x", b"{}")
        with pytest.raises(ReplicaError):
            await answer.aread()
        server.close()
        await server.wait_closed()
        with pytest.raises(ReplicaError, match="cannot connect"):
            await ReplicaPool().post(url + "/v1/x", b"{}")

    asyncio.run(scenario())
