"""A network's round trip in front of a simulated droplet's SSH port.

Every droplet of the sandbox listens on 127.0.0.1, where a round trip costs microseconds;
a real droplet is tens of milliseconds away, and what costs round trips (an SSH channel
opened per HTTP/1.0 request, a request waiting for the one before it) only shows at that
distance. `DelayedPort` listens in front of the droplet's SSH server and carries each
connection's bytes both ways, every chunk delivered half a round trip after it arrived,
in order: the same total delay for every exchange the client makes (the handshake, each
channel open, each request), as a link with that RTT and ample bandwidth would add.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque


class _End(asyncio.Protocol):
    """One side of a carried connection: what it receives reaches `peer` `delay` later."""

    def __init__(self, delay: float, ends: set[_End]) -> None:
        self.delay = delay
        self._ends = ends
        ends.add(self)
        self.peer: _End | None = None
        self.transport: asyncio.Transport | None = None
        self._queue: deque[tuple[float, bytes | None]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._push(data)

    def eof_received(self) -> bool:
        self._push(None)
        return True  # keep the transport: the peer's answer may still be in flight

    def connection_lost(self, exc: Exception | None) -> None:
        self._ends.discard(self)
        self._push(None)

    def _push(self, data: bytes | None) -> None:
        loop = asyncio.get_running_loop()
        self._queue.append((loop.time() + self.delay, data))
        if self._timer is None:
            self._timer = loop.call_at(self._queue[0][0], self._deliver)

    def _deliver(self) -> None:
        self._timer = None
        peer = self.peer.transport if self.peer is not None else None
        loop = asyncio.get_running_loop()
        if peer is None:  # the far side is still connecting
            self._timer = loop.call_later(0.001, self._deliver)
            return
        now = loop.time()
        while self._queue and self._queue[0][0] <= now:
            data = self._queue.popleft()[1]
            if data is None:
                self._queue.clear()
                peer.close()
                return
            if not peer.is_closing():
                peer.write(data)
        if self._queue:
            self._timer = loop.call_at(self._queue[0][0], self._deliver)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.transport is not None:
            self.transport.close()


class DelayedPort:
    """Listens on 127.0.0.1:`port` (0: a free one) and carries every connection to
    127.0.0.1:`target` with `rtt` seconds of round trip added."""

    def __init__(self, target: int, rtt: float) -> None:
        self.target = target
        self.rtt = rtt
        self.port = 0
        self._server: asyncio.Server | None = None
        self._ends: set[_End] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, port: int = 0) -> int:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._accept, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    def _accept(self) -> _End:
        front = _End(self.rtt / 2, self._ends)
        task = asyncio.ensure_future(self._connect(front))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return front

    async def _connect(self, front: _End) -> None:
        back = _End(self.rtt / 2, self._ends)
        back.peer, front.peer = front, back
        loop = asyncio.get_running_loop()
        try:
            await loop.create_connection(lambda: back, "127.0.0.1", self.target)
        except OSError:  # the droplet's SSH server is gone: so is the connection
            front.close()
            self._ends.discard(front)
            self._ends.discard(back)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for end in list(self._ends):
            end.close()
        self._ends.clear()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None


__all__ = ["DelayedPort"]
