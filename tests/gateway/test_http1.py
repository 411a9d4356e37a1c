"""HTTP over SSH channels (gateway/channels.py, gateway/http1.py) against real servers on
loopback.

The "channel" here is a plain TCP stream to a local server: what is under test is that
TLS runs in memory over it with answers larger than one read, that one connection is
kept between requests when the server keeps it, that an HTTP/1.0 server's close opens
a new one, and that a kept connection the server dropped is not an error.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from ibdesk.domain.errors import GatewayError, GatewayUnreachable
from ibdesk.gateway.channels import open_stream, open_tls_stream
from ibdesk.gateway.http1 import HTTPConnection, request_bytes
from ibdesk.gateway.tls import INSIDE_SSH
from ibdesk.sandbox.server import _self_signed

BODY = b"x" * 300_000  # several TLS records and channel reads


class _FakeRemote:
    """The one Remote method the streams use, onto a local port."""

    def __init__(self, port: int | None) -> None:
        self.port = port
        self.opened: list[int] = []

    async def open_channel(self, remote_port: int) -> tuple[Any, Any]:
        self.opened.append(remote_port)
        if self.port is None:
            raise GatewayUnreachable(f"Nothing answers on the server's port {remote_port}.")
        return await asyncio.open_connection("127.0.0.1", self.port)


Answer = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]


@contextlib.asynccontextmanager
async def _served(answer: Answer, **kwargs: Any) -> AsyncIterator[int]:
    server = await asyncio.start_server(answer, "127.0.0.1", 0, **kwargs)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


def _once(payload: bytes) -> Answer:
    """A server that reads one request, sends `payload` and closes the connection."""
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(payload)
        await writer.drain()
        writer.close()

    return answer


async def _keep_answering(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """HTTP/1.1 with Content-Length, the connection kept until the client closes it."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[int]:
    async with _served(_keep_answering, ssl=_self_signed(tmp_path)) as port:
        yield port


async def test_https_rides_the_channel_and_keeps_one_connection(tls_server: int) -> None:
    remote = _FakeRemote(tls_server)
    connection = HTTPConnection(lambda: open_tls_stream(remote, 5000, INSIDE_SSH))  # type: ignore[arg-type]
    for _ in range(3):
        reply = await connection.request("POST", "/v1/api/iserver/auth/status", timeout=10)
        assert reply.status == 200 and reply.body == BODY
    connection.close()
    assert remote.opened == [5000]  # one channel to the gateway's port, kept alive
    assert connection.opened == 1


async def test_an_http10_server_gets_a_new_channel_per_request() -> None:
    """IBeam's health server: HTTP/1.0, no Content-Length, closed after the answer."""
    seen: list[bytes] = []

    async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.0 503 Service Unavailable\r\nContent-type: text/html\r\n\r\n"
                     b"Not Ready")
        await writer.drain()
        writer.close()

    async with _served(once) as port:
        remote = _FakeRemote(port)
        connection = HTTPConnection(lambda: open_stream(remote, 5001))  # type: ignore[arg-type]
        for _ in range(3):
            reply = await connection.request("GET", "/readyz", timeout=5)
            assert (reply.status, reply.text) == (503, "Not Ready")
        assert connection.opened == 3 and remote.opened == [5001] * 3
        assert all(head.startswith(b"GET /readyz HTTP/1.1\r\n") for head in seen)


async def test_a_kept_connection_the_server_dropped_is_asked_again_on_a_new_one() -> None:
    """A server may close an idle kept-alive connection; the next request must not fail."""
    async def one_answer_then_close(reader: asyncio.StreamReader,
                                    writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()  # without saying so in the answer

    async with _served(one_answer_then_close) as port:
        remote = _FakeRemote(port)
        connection = HTTPConnection(lambda: open_stream(remote, 5001))  # type: ignore[arg-type]
        assert (await connection.request("GET", "/livez", timeout=5)).text == "ok"
        await asyncio.sleep(0.2)
        assert (await connection.request("GET", "/livez", timeout=5)).text == "ok"
        assert connection.opened == 2


async def test_chunked_answers_are_read_whole() -> None:
    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        await writer.drain()

    async with _served(chunked) as port:
        connection = HTTPConnection(lambda: open_stream(_FakeRemote(port), 5000))  # type: ignore[arg-type]
        assert (await connection.request("GET", "/", timeout=5)).text == "hello world"
        connection.close()


async def test_silence_and_garbage_and_nothing_listening_are_gateway_errors() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(1)

    async with _served(silent) as port:
        connection = HTTPConnection(lambda: open_stream(_FakeRemote(port), 5001))  # type: ignore[arg-type]
        with pytest.raises(GatewayError, match="No answer to /readyz within 0.3 s"):
            await connection.request("GET", "/readyz", timeout=0.3)
    async with _served(_once(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")) as port:
        connection = HTTPConnection(lambda: open_stream(_FakeRemote(port), 5001))  # type: ignore[arg-type]
        with pytest.raises(GatewayError, match="not HTTP"):
            await connection.request("GET", "/readyz", timeout=5)
    connection = HTTPConnection(lambda: open_stream(_FakeRemote(None), 5000))  # type: ignore[arg-type]
    with pytest.raises(GatewayUnreachable, match="Nothing answers"):
        await connection.request("POST", "/v1/api/iserver/auth/status", timeout=5)



async def test_an_answer_cut_short_is_an_error_not_a_short_body() -> None:
    """Content-Length says where a framed answer ends: a close before it is a broken
    answer (an HTTP/1.0 answer without it ends with the close, as above)."""
    cut = _once(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"authenticated\"")
    async with _served(cut) as port:
        connection = HTTPConnection(lambda: open_stream(_FakeRemote(port), 5000))  # type: ignore[arg-type]
        with pytest.raises(GatewayError, match="in the middle of its answer"):
            await connection.request("POST", "/v1/api/iserver/auth/status", timeout=5)


async def test_a_connection_close_answer_is_not_kept() -> None:
    """Framed, but the server says it closes: the next request opens a new connection."""
    async def closing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        await asyncio.sleep(0.5)  # closes late: the client must not wait for it
        writer.close()

    async with _served(closing) as port:
        remote = _FakeRemote(port)
        connection = HTTPConnection(lambda: open_stream(remote, 5000))  # type: ignore[arg-type]
        for _ in range(2):
            assert (await connection.request("GET", "/livez", timeout=5)).text == "ok"
        assert connection.opened == 2


@pytest.mark.parametrize(("method", "target"), [
    ("GET", "/readyz HTTP/1.1\r\nX-Injected: 1"), ("GET /x", "/readyz"), ("GET", "readyz"),
    ("", "/readyz"), ("GET", "/ready z")])
def test_nothing_can_slip_into_the_request_line(method: str, target: str) -> None:
    with pytest.raises(ValueError, match="not an HTTP method|not a request target"):
        request_bytes(method, target, "127.0.0.1", b"")


def test_the_request_on_the_wire() -> None:
    assert request_bytes("POST", "/v1/api/iserver/auth/status", "127.0.0.1", b"") == (
        b"POST /v1/api/iserver/auth/status HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Length: 0\r\n\r\n")
