"""HTTPS over SSH channels (gateway/channels.py) against a real TLS server on loopback.

The "channel" here is a plain TCP stream to that server: what is under test is that
httpx really takes its connections from the channel backend (no socket of its own, no
listening port), that TLS runs in memory over it with answers larger than one read,
and that the one connection is kept between requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ibdesk.domain.errors import GatewayUnreachable
from ibdesk.gateway.channels import SSHChannelBackend, gateway_client
from ibdesk.sandbox.server import _self_signed

BODY = b"x" * 300_000  # several TLS records and channel reads


class _FakeRemote:
    """The one Remote method the backend uses, onto a local port."""

    def __init__(self, port: int | None) -> None:
        self.port = port
        self.opened: list[int] = []

    async def open_channel(self, remote_port: int) -> tuple[Any, Any]:
        self.opened.append(remote_port)
        if self.port is None:
            raise GatewayUnreachable(f"Nothing answers on the server's port {remote_port}.")
        return await asyncio.open_connection("127.0.0.1", self.port)


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[int]:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
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

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=_self_signed(tmp_path))
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


async def test_https_rides_the_channel_and_keeps_one_connection(tls_server: int) -> None:
    remote = _FakeRemote(tls_server)
    async with gateway_client(remote, timeout=10, keepalive_expiry=None) as client:  # type: ignore[arg-type]
        for _ in range(3):
            response = await client.post("/v1/api/iserver/auth/status", content=b"{}")
            assert response.status_code == 200 and response.content == BODY
        # httpx's pool is the channel backend's (this fails if httpx stops using `_pool`)
        assert isinstance(client._transport._pool._network_backend,  # type: ignore[attr-defined]
                          SSHChannelBackend)
    assert remote.opened == [5000]  # one channel to the gateway's port, kept alive


async def test_a_port_nothing_answers_on_is_an_httpx_connect_error() -> None:
    import httpx

    async with gateway_client(_FakeRemote(None), timeout=5,  # type: ignore[arg-type]
                              keepalive_expiry=None) as client:
        with pytest.raises(httpx.ConnectError, match="Nothing answers"):
            await client.post("/v1/api/iserver/auth/status")
