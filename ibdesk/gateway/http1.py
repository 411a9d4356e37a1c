"""HTTP/1.1 on one stream at a time, spoken with h11, for the probes.

Why not httpx here: a probe is two small requests to one droplet, 1,000 accounts a
cycle, and httpx's client, its transport and httpcore's pool cost more CPU per request
than the SSH encryption under them (`benchmarks/monitor.py --profile`: ~70 % of the
monitor's CPU per probe was httpx and httpcore). h11 (python-hyper, the state machine
httpcore itself is built on) does the part that must be right — framing by
Content-Length, chunks or the connection's close, and whether a connection may be used
again — and nothing else: no URL parsing, no cookies, no redirects, no pool.

One `HTTPConnection` keeps one connection open between requests when the server allows
it (the gateway's HTTPS does) and opens a new one when the server closed it (IBeam's
HTTP/1.0 health server closes after every answer), without being asked which server is
which. A request on a kept connection that the server closed meanwhile, before any byte
of an answer came back, is sent once more on a new one (both requests the probes make
only read).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import h11

from ibdesk.domain.errors import GatewayError
from ibdesk.gateway.channels import Stream


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class _Stale(Exception):
    """A kept connection was found closed before its answer began."""


class HTTPConnection:
    """Requests to one server, one at a time, over a connection kept while it may be."""

    def __init__(self, connect: Callable[[], Awaitable[Stream]], *,
                 host: str = "127.0.0.1") -> None:
        self._connect = connect
        self._host = host
        self._stream: Stream | None = None
        self._h11: h11.Connection | None = None
        self._lock = asyncio.Lock()
        self.opened = 0
        """Connections opened so far (tests and benchmarks: keep-alive at work)."""

    async def request(self, method: str, target: str, *, body: bytes = b"",
                      timeout: float) -> Reply:
        """One request and its whole answer. Raises GatewayError when the server does not
        answer in `timeout` seconds, closes without an answer, or breaks HTTP."""
        async with self._lock:
            try:
                async with asyncio.timeout(timeout):
                    reused = self._stream is not None
                    try:
                        return await self._exchange(method, target, body)
                    except _Stale:
                        if not reused:
                            raise GatewayError("The server closed the connection without "
                                               "an answer.") from None
                        return await self._exchange(method, target, body)
            except TimeoutError:
                self.close()
                raise GatewayError(f"No answer to {target} within {timeout:g} s.") from None
            except _Stale:
                raise GatewayError("The server closed the connection without an "
                                   "answer.") from None
            except BaseException:
                self.close()  # a broken exchange leaves the connection unusable
                raise

    async def _exchange(self, method: str, target: str, body: bytes) -> Reply:
        if self._stream is None:
            self._stream = await self._connect()
            self._h11 = h11.Connection(h11.CLIENT)
            self.opened += 1
        stream, conn = self._stream, self._h11
        assert conn is not None
        try:
            data = conn.send(h11.Request(method=method, target=target, headers=[
                ("Host", self._host), ("Content-Length", str(len(body)))]))
            if body:
                data += conn.send(h11.Data(data=body))
            data += conn.send(h11.EndOfMessage())
            await stream.write(data)
            status = 0
            chunks: list[bytes] = []
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    received = await stream.read()
                    if not received and status == 0:
                        self.close()
                        raise _Stale
                    conn.receive_data(received)
                elif isinstance(event, h11.Response):
                    status = event.status_code
                elif isinstance(event, h11.Data):
                    chunks.append(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage):
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    self.close()
                    raise _Stale
        except h11.ProtocolError as exc:
            self.close()
            raise GatewayError(f"The server's answer to {target} is not HTTP ({exc}).") \
                from None
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()  # kept for the next request
        else:
            self.close()  # HTTP/1.0, or `Connection: close`: the server closes it
        return Reply(status, b"".join(chunks))

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        self._stream = None
        self._h11 = None


__all__ = ["HTTPConnection", "Reply"]
