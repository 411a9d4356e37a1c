"""The trader's own door to the gateway: https://localhost:PORT on the workstation,
forwarded over SSH to IBeam's 127.0.0.1:5000 on the droplet (what ibind / ib_async style
clients and the trader's scripts connect to).

A tunnel is kept, not just opened: the SSH connection under it dies whenever the server
stops, starts or reboots, the network changes or the workstation sleeps, and a tunnel
that only waited for its stop event kept saying "https://localhost:5000" while nothing
answered there. `KeptTunnel` notices the connection is gone, says so, and opens it again
on the same local port (a program configured for it must find the same account there,
never another), with back-off, until it is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from ibdesk.domain import ibeam as ib
from ibdesk.domain.backoff import Backoff
from ibdesk.domain.errors import GatewayError, IbdeskError
from ibdesk.services.remote import RemoteAccess, in_thread
from ibdesk.services.runtime import Runtime

log = logging.getLogger(__name__)

RETRY_FIRST, RETRY_MAX = 1.0, 30.0
"""Seconds before reopening a lost tunnel, doubling up to the most."""
WATCH_EVERY = 1.0
"""How often an open tunnel checks that its SSH connection still lives."""
USE_RECORDED_EVERY = 60.0
"""Seconds between writes of `tunnel_used_at` while bytes flow (idle shutdown needs the
minute, not the byte)."""


@asynccontextmanager
async def open_tunnel(rt: Runtime, account_id: str, local_port: int = ib.GATEWAY_PORT
                      ) -> AsyncIterator[int]:
    """Yields the local port; the tunnel closes when the block ends (one connection: see
    KeptTunnel for one that comes back)."""
    account = await rt.store.require_account(account_id)
    async with RemoteAccess(rt).open(account) as remote:
        listener = await remote.forward(ib.GATEWAY_PORT, local_port)
        try:
            yield listener.get_port()
        finally:
            listener.close()


class PortTaken(GatewayError):
    """Another program on this computer listens on the account's local port."""


class TunnelState(StrEnum):
    UP = "up"
    """Listening on the local port, the SSH connection alive."""
    DOWN = "down"
    """Not answering now; being reopened."""


@dataclass(frozen=True)
class TunnelEvent:
    state: TunnelState
    port: int
    """The local port (the same for every UP of one tunnel)."""
    message: str


class KeptTunnel:
    """One account's tunnel, reopened whenever its connection is lost.

    `await start()` opens it the first time and returns the port (or raises what went
    wrong: the caller's sentence to show); `run()` then keeps it until `close()`."""

    def __init__(self, rt: Runtime, account_id: str, local_port: int | None = None, *,
                 on_event: Callable[[TunnelEvent], None] | None = None,
                 retry_first: float = RETRY_FIRST, retry_max: float = RETRY_MAX) -> None:
        self._rt = rt
        self.account_id = account_id
        self.port = local_port or 0
        """The local port: the account's own unless the caller named one."""
        self._own_port = local_port is None
        self._on_event = on_event or (lambda event: None)
        self._waits = Backoff(retry_first, retry_max)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.state = TunnelState.DOWN
        self.bytes = 0
        """What went through the tunnel, both ways, since it was opened."""
        self._recorded = 0.0  # monotonic time of the last `tunnel_used_at` write
        self._recording: asyncio.Task[object] | None = None

    def _carried(self, count: int) -> None:
        """Bytes went through: now and then, record that the gateway is used."""
        self.bytes += count
        now = time.monotonic()
        if now - self._recorded < USE_RECORDED_EVERY or (
                self._recording is not None and not self._recording.done()):
            return
        self._recorded = now
        self._recording = asyncio.ensure_future(self._rt.store.update_account(
            self.account_id, tunnel_used_at=datetime.now(UTC)))
        self._recording.add_done_callback(_log_failure)

    def _say(self, state: TunnelState, message: str) -> None:
        self.state = state
        try:
            self._on_event(TunnelEvent(state, self.port, message))
        except Exception:  # a listener's fault must not end the tunnel
            log.exception("tunnel listener failed")

    async def start(self, *, first_must_work: bool = True) -> int:
        """Open the tunnel and keep it; the port. With `first_must_work=False` (the app
        starting again with tunnels the trader had open, their servers perhaps still
        booting) it returns the port at once and the first opening is retried like any
        reopening."""
        ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        await self._choose_port()
        if not first_must_work:
            ready.set_result(self.port)
        self._task = asyncio.ensure_future(self._keep(ready))
        return await ready

    async def _choose_port(self) -> None:
        if self._own_port:
            from ibdesk.services.control.local_port import port_for

            account = await in_thread(port_for, self._rt, self.account_id)
            assert account.local_port is not None
            self.port = account.local_port

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._task

    async def wait(self) -> None:
        """Until the tunnel is closed (or its first opening failed)."""
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task

    async def _keep(self, ready: asyncio.Future[int]) -> None:
        self._waits.reset()
        while not self._stop.is_set():
            try:
                await self._hold(ready)
                self._waits.reset()  # it held: the next drop waits the shortest again
                if self._stop.is_set():
                    break
                why = "The connection to the server was lost (it may be restarting)."
            except IbdeskError as exc:
                if not ready.done():  # the first opening: the caller says why
                    ready.set_exception(exc)
                    return
                why = exc.user_message
            self._say(TunnelState.DOWN, f"{why} Reconnecting on port {self.port}…")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), next(self._waits))
        if self.state is TunnelState.UP:
            self._say(TunnelState.DOWN, "Tunnel closed.")

    async def _hold(self, ready: asyncio.Future[int]) -> None:
        from ibdesk.services.control.local_port import listening, taken_sentence

        if self.port and await in_thread(listening, self.port):
            # another program has the port: say which, and wait for it (never another port)
            raise PortTaken(await in_thread(taken_sentence, self.port, self.account_id))
        account = await self._rt.store.require_account(self.account_id)
        async with RemoteAccess(self._rt).open(account) as remote:
            listener = await remote.forward_counted(ib.GATEWAY_PORT, self.port,
                                                    self._carried)
            try:
                self.port = listener.get_port()  # kept: every reopening binds this one
                if not ready.done():
                    ready.set_result(self.port)
                self._say(TunnelState.UP, f"https://localhost:{self.port}")
                while not self._stop.is_set() and not remote.closed:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), WATCH_EVERY)
            finally:
                listener.close()


def _log_failure(task: asyncio.Task[object]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("could not record the tunnel's use: %s", task.exception())


__all__ = ["KeptTunnel", "PortTaken", "TunnelEvent", "TunnelState", "open_tunnel"]
