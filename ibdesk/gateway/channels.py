"""Byte streams to a droplet's ports over SSH direct channels, with no listening socket here.

A local port forward listens on 127.0.0.1, and anything on the computer can use it: any
local user could reach a logged-in gateway while the monitor ran, and do with it what the
logged-in trader can (read the account, place orders, log it out). So the monitor, the
status check and the doctor do not forward ports: each connection is an SSH
`direct-tcpip` channel to 127.0.0.1:PORT on the droplet, opened on the account's own SSH
connection, and the gateway's TLS runs in memory (`ssl.SSLObject` over `MemoryBIO`s) on
top of it. Only the trader's own tunnel (`services/tunnel.py`) still listens on
127.0.0.1, on purpose: the trader's programs need a port to talk to (README, "Who can
reach a gateway").

HTTP is spoken over these streams by `gateway/http1.py`.
"""

from __future__ import annotations

import ssl
import typing

from ibdesk.domain.errors import GatewayError, GatewayUnreachable

if typing.TYPE_CHECKING:
    from ibdesk.gateway.ssh import Remote

_READ = 65536


class Stream(typing.Protocol):
    """What HTTP needs from a connection."""

    async def read(self) -> bytes:
        """Some bytes; b"" once the other side closed."""

    async def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class ChannelStream:
    """One SSH direct channel as a byte stream."""

    def __init__(self, reader: typing.Any, writer: typing.Any) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self) -> bytes:
        try:
            return bytes(await self._reader.read(_READ))
        except (OSError, EOFError) as exc:
            raise GatewayUnreachable(f"The channel to the server closed "
                                     f"({str(exc) or type(exc).__name__}).") from None

    async def write(self, data: bytes) -> None:
        try:
            self._writer.write(data)
            await self._writer.drain()
        except (OSError, EOFError) as exc:
            raise GatewayUnreachable(f"The channel to the server closed "
                                     f"({str(exc) or type(exc).__name__}).") from None

    def close(self) -> None:
        self._writer.close()


class TLSStream:
    """TLS in memory over a channel stream (an SSH channel is not a socket, so neither
    `ssl.wrap_socket` nor asyncio's `start_tls` applies)."""

    def __init__(self, inner: ChannelStream, context: ssl.SSLContext,
                 server_hostname: str | None = None) -> None:
        self._inner = inner
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing,
                                     server_hostname=server_hostname)

    async def _flush(self) -> None:
        data = self._outgoing.read()
        if data:
            await self._inner.write(data)

    async def _fill(self) -> None:
        data = await self._inner.read()
        if data:
            self._incoming.write(data)
        else:
            self._incoming.write_eof()

    async def handshake(self) -> None:
        while True:
            try:
                self._tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                await self._flush()
                await self._fill()
            except ssl.SSLError as exc:
                raise GatewayError(f"TLS with the gateway failed: {exc}") from None
        await self._flush()

    async def read(self) -> bytes:
        while True:
            try:
                return self._tls.read(_READ)
            except ssl.SSLWantReadError:
                await self._flush()
                await self._fill()
            except ssl.SSLZeroReturnError:
                return b""
            except ssl.SSLError as exc:
                if self._incoming.eof:
                    return b""  # the gateway closed without a close_notify
                raise GatewayError(f"TLS with the gateway failed: {exc}") from None

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                sent = self._tls.write(view)
            except ssl.SSLWantReadError:
                await self._flush()
                await self._fill()
                continue
            view = view[sent:]
        await self._flush()

    def close(self) -> None:
        self._inner.close()  # no close_notify: the channel's close says it, and costs no wait


async def open_stream(remote: Remote, port: int) -> ChannelStream:
    """A direct channel to the droplet's 127.0.0.1:`port` (GatewayUnreachable when
    nothing listens there)."""
    reader, writer = await remote.open_channel(port)
    return ChannelStream(reader, writer)


async def open_tls_stream(remote: Remote, port: int, context: ssl.SSLContext) -> TLSStream:
    """The same, with TLS in memory on top (the handshake done)."""
    stream = TLSStream(await open_stream(remote, port), context)
    try:
        await stream.handshake()
    except BaseException:
        stream.close()
        raise
    return stream


__all__ = ["ChannelStream", "Stream", "TLSStream", "open_stream", "open_tls_stream"]
