"""HTTPS to the gateway over SSH direct channels, with no listening socket on this computer.

A local port forward listens on 127.0.0.1, and anything on the computer can use it: any
local user could reach a logged-in gateway while the monitor ran, and do with it what the
logged-in trader can (read the account, place orders, log it out). So the monitor, the
status check and the doctor do not forward ports: each HTTPS connection httpx asks for is an SSH
`direct-tcpip` channel to 127.0.0.1:5000 on the droplet, opened on the account's own SSH
connection, with TLS run in memory (`ssl.SSLObject` over `MemoryBIO`s) on top of it.

httpx takes its connections from httpcore, whose pool accepts a network backend: that is
the one seam used here (`SSHChannelBackend`). Only the trader's own tunnel
(`services/tunnel.py`) still listens on 127.0.0.1, on purpose: the trader's programs need
a port to talk to (README, "Who can reach a gateway").
"""

from __future__ import annotations

import asyncio
import ssl
import typing

import httpcore
import httpx

from ibdesk.domain import ibeam as ib
from ibdesk.domain.errors import GatewayError
from ibdesk.gateway.tls import INSIDE_SSH

if typing.TYPE_CHECKING:
    from ibdesk.gateway.ssh import Remote

_READ = 65536


class _ChannelStream(httpcore.AsyncNetworkStream):
    """One SSH direct channel as httpcore's byte stream."""

    def __init__(self, reader: asyncio.StreamReader | typing.Any, writer: typing.Any) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            return bytes(await asyncio.wait_for(self._reader.read(max_bytes), timeout))
        except TimeoutError:
            raise httpcore.ReadTimeout("the gateway did not answer in time") from None
        except (OSError, EOFError) as exc:
            raise httpcore.ReadError(str(exc) or type(exc).__name__) from None

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            self._writer.write(buffer)
            await asyncio.wait_for(self._writer.drain(), timeout)
        except TimeoutError:
            raise httpcore.WriteTimeout("the gateway did not take the request in time") \
                from None
        except (OSError, EOFError) as exc:
            raise httpcore.WriteError(str(exc) or type(exc).__name__) from None

    async def aclose(self) -> None:
        self._writer.close()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        stream = _TLSStream(self, ssl_context, server_hostname)
        await stream.handshake(timeout)
        return stream

    def get_extra_info(self, info: str) -> typing.Any:
        return None


class _TLSStream(httpcore.AsyncNetworkStream):
    """TLS in memory over a channel stream (an SSH channel is not a socket, so neither
    `ssl.wrap_socket` nor asyncio's `start_tls` applies)."""

    def __init__(self, inner: _ChannelStream, context: ssl.SSLContext,
                 server_hostname: str | None) -> None:
        self._inner = inner
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing,
                                     server_hostname=server_hostname)

    async def _flush(self, timeout: float | None) -> None:
        data = self._outgoing.read()
        if data:
            await self._inner.write(data, timeout)

    async def _fill(self, timeout: float | None) -> None:
        data = await self._inner.read(_READ, timeout)
        if data:
            self._incoming.write(data)
        else:
            self._incoming.write_eof()

    async def handshake(self, timeout: float | None) -> None:
        while True:
            try:
                self._tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                await self._flush(timeout)
                await self._fill(timeout)
            except ssl.SSLError as exc:
                raise httpcore.ConnectError(f"TLS with the gateway failed: {exc}") from None
        await self._flush(timeout)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        while True:
            try:
                return self._tls.read(max_bytes)
            except ssl.SSLWantReadError:
                await self._flush(timeout)
                await self._fill(timeout)
            except ssl.SSLZeroReturnError:
                return b""
            except ssl.SSLError as exc:
                if self._incoming.eof:
                    return b""  # the gateway closed without a close_notify
                raise httpcore.ReadError(f"TLS with the gateway failed: {exc}") from None

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        view = memoryview(buffer)
        while view:
            try:
                sent = self._tls.write(view)
            except ssl.SSLWantReadError:
                await self._flush(timeout)
                await self._fill(timeout)
                continue
            view = view[sent:]
            await self._flush(timeout)

    async def aclose(self) -> None:
        try:
            self._tls.unwrap()
            await self._flush(1.0)
        except (ssl.SSLError, httpcore.NetworkError, httpcore.TimeoutException):
            pass
        await self._inner.aclose()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("TLS inside TLS is not used here")

    def get_extra_info(self, info: str) -> typing.Any:
        return self._tls if info == "ssl_object" else None


class SSHChannelBackend(httpcore.AsyncNetworkBackend):
    """Every TCP connection httpcore asks for becomes a direct channel on `remote`, to
    the droplet's 127.0.0.1 at the asked port; the host in the URL is not used."""

    def __init__(self, remote: Remote) -> None:
        self._remote = remote

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: typing.Iterable[typing.Any] | None = None
                          ) -> httpcore.AsyncNetworkStream:
        try:
            reader, writer = await asyncio.wait_for(self._remote.open_channel(port), timeout)
        except TimeoutError:
            raise httpcore.ConnectTimeout("the SSH channel did not open in time") from None
        except GatewayError as exc:
            raise httpcore.ConnectError(exc.user_message) from None
        return _ChannelStream(reader, writer)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: typing.Iterable[typing.Any] | None = None
                                  ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("not used")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class _ChannelTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport with its connection pool built on SSH channels."""

    def __init__(self, remote: Remote, *, keepalive_expiry: float | None) -> None:
        super().__init__(verify=INSIDE_SSH)
        # httpx 0.28 builds its httpcore pool in __init__ with no backend parameter; the
        # pool is replaced by one with the same settings and the SSH channel backend
        # (tests/gateway/test_channels.py fails if a new httpx stops using `_pool`).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=INSIDE_SSH, max_connections=1, max_keepalive_connections=1,
            keepalive_expiry=keepalive_expiry, network_backend=SSHChannelBackend(remote))


def gateway_client(remote: Remote, *, timeout: float,
                   keepalive_expiry: float | None) -> httpx.AsyncClient:
    """An httpx client for the gateway on the droplet behind `remote`: one kept-alive
    HTTPS connection, carried by an SSH channel, never by a local port."""
    return httpx.AsyncClient(base_url=f"https://127.0.0.1:{ib.GATEWAY_PORT}", timeout=timeout,
                             transport=_ChannelTransport(remote,
                                                         keepalive_expiry=keepalive_expiry))


__all__ = ["SSHChannelBackend", "gateway_client"]
