"""HTTP/1.1 on one stream at a time, parsed with httptools (llhttp), for the probes.

Why not httpx here: a probe is two small requests to one droplet, 1,000 accounts a
cycle, and httpx's client, its transport and httpcore's pool cost more CPU per request
than the SSH encryption under them (`benchmarks/monitor.py --profile`: ~70 % of the
monitor's CPU per probe was httpx and httpcore). Why not h11, which replaced it first:
its pure-Python state machine still took ~60 µs a request (a fifth of the monitor's
profile at 1,000 accounts), against ~1 µs for httptools, MagicStack's binding of
llhttp, Node.js's parser (what uvicorn parses with). The parser does the part that must
be right — the status line, headers, framing by Content-Length or chunks, and whether the
connection may be used again — and this module only adds what llhttp leaves to its
caller: an answer with neither Content-Length nor chunks (IBeam's HTTP/1.0 health server)
ends when the server closes the connection. The request is written here: its method and
target are the probes' own constants (checked), with Host and Content-Length.

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

import httptools

from ibdesk.domain.errors import GatewayError
from ibdesk.gateway.channels import Stream

_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class _Stale(Exception):
    """A kept connection was found closed before its answer began."""


class _Answer:
    """What llhttp reports about one answer, through its callbacks."""

    __slots__ = ("body", "complete", "framed", "head_done", "keep", "parser")

    def __init__(self) -> None:
        self.parser: httptools.HttpResponseParser | None = httptools.HttpResponseParser(self)
        self.body: list[bytes] = []
        self.framed = False
        """Content-Length or chunked: the answer says where it ends (else the close does)."""
        self.head_done = False
        self.keep = False
        """Whether the server keeps the connection (llhttp says so only while it parses)."""
        self.complete = False

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"content-length" or (name == b"transfer-encoding"
                                         and b"chunked" in value.lower()):
            self.framed = True

    def on_headers_complete(self) -> None:
        self.head_done = True
        self.keep = self.parser is not None and self.parser.should_keep_alive()

    def on_body(self, data: bytes) -> None:
        self.body.append(bytes(data))

    def on_message_complete(self) -> None:
        self.complete = True

    def done(self) -> None:
        """Lets the parser go (it refers to this object: no cycle is left)."""
        self.parser = None


def request_bytes(method: str, target: str, host: str, body: bytes) -> bytes:
    """The request on the wire. `method` must be a token and `target` printable ASCII
    without spaces: nothing can slip a header or a second request in."""
    raw_method, raw_target = method.encode("ascii"), target.encode("ascii")
    if not raw_method or not set(raw_method) <= _TOKEN:
        raise ValueError(f"not an HTTP method: {method!r}")
    if not raw_target.startswith(b"/") or any(c <= 0x20 or c >= 0x7F for c in raw_target):
        raise ValueError(f"not a request target: {target!r}")
    return b"%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n%s" % (
        raw_method, raw_target, host.encode("ascii"), len(body), body)


class HTTPConnection:
    """Requests to one server, one at a time, over a connection kept while it may be."""

    def __init__(self, connect: Callable[[], Awaitable[Stream]], *,
                 host: str = "127.0.0.1") -> None:
        self._connect = connect
        self._host = host
        self._stream: Stream | None = None
        self._lock = asyncio.Lock()
        self.opened = 0
        """Connections opened so far (tests and benchmarks: keep-alive at work)."""

    async def request(self, method: str, target: str, *, body: bytes = b"",
                      timeout: float) -> Reply:
        """One request and its whole answer. Raises GatewayError when the server does not
        answer in `timeout` seconds, closes without an answer, or breaks HTTP."""
        data = request_bytes(method, target, self._host, body)
        async with self._lock:
            try:
                async with asyncio.timeout(timeout):
                    reused = self._stream is not None
                    try:
                        return await self._exchange(data, target)
                    except _Stale:
                        if not reused:
                            raise GatewayError("The server closed the connection without "
                                               "an answer.") from None
                        return await self._exchange(data, target)
            except TimeoutError:
                self.close()
                raise GatewayError(f"No answer to {target} within {timeout:g} s.") from None
            except _Stale:
                raise GatewayError("The server closed the connection without an "
                                   "answer.") from None
            except BaseException:
                self.close()  # a broken exchange leaves the connection unusable
                raise

    async def _exchange(self, data: bytes, target: str) -> Reply:
        if self._stream is None:
            self._stream = await self._connect()
            self.opened += 1
        stream = self._stream
        answer = _Answer()
        try:
            await stream.write(data)
            status = await self._read(stream, answer, target)
        finally:
            answer.done()  # the parser is let go whatever happened
        if self._stream is not None and not (answer.framed and answer.keep):
            self.close()  # HTTP/1.0, or `Connection: close`: the server closes it
        return Reply(status, b"".join(answer.body))

    async def _read(self, stream: Stream, answer: _Answer, target: str) -> int:
        parser = answer.parser
        assert parser is not None
        received_any = False
        while not answer.complete:
            received = await stream.read()
            if not received:  # the server closed the connection
                self.close()
                if answer.head_done and not answer.framed:
                    break  # HTTP/1.0's way: the body ends with the connection
                if not received_any:
                    raise _Stale
                raise GatewayError(f"The server closed the connection in the middle of "
                                   f"its answer to {target}.")
            received_any = True
            try:
                parser.feed_data(received)
            except httptools.HttpParserUpgrade:
                self.close()
                raise GatewayError(f"The server's answer to {target} switches protocols."
                                   ) from None
            except httptools.HttpParserError as exc:
                self.close()
                raise GatewayError(f"The server's answer to {target} is not HTTP ({exc})."
                                   ) from None
        return int(parser.get_status_code())

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        self._stream = None


__all__ = ["HTTPConnection", "Reply", "request_bytes"]
