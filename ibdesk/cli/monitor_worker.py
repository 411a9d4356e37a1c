"""`ibdesk monitor-worker`: the window's monitor, in a process of its own.

Why a process: the monitor keeps an SSH connection and two forwards per account and does
real CPU work every cycle. On a thread of the window's process it took the GIL from the
Qt thread for hundreds of milliseconds at a time; in a process of its own it shares
neither the GIL nor the window's event loop. (An abort seen with it on the window's loop
was PySide6 6.12.0's reference-count fault: see tests/ui/test_qt_binding.py.)

The protocol it speaks with the window is ibdesk.services.watch.worker_protocol.
Log records go to stderr (the window writes them into its own log).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import socket
import sys
import threading
from typing import Any, TextIO

from keyring.errors import PasswordDeleteError

from ibdesk.applog import quiet_libraries
from ibdesk.domain.cadence import CADENCE
from ibdesk.domain.errors import IbdeskError, InvalidInput, SecretsError
from ibdesk.secrets import ALERT_URLS, MemoryKeyring, SecretStore, remember
from ibdesk.services.runtime import Runtime
from ibdesk.services.watch.alerts import Alerts
from ibdesk.services.watch.heap import QuietHeap, limit_malloc_arenas
from ibdesk.services.watch.metrics import Metrics, serve_for
from ibdesk.services.watch.monitor import Monitor, MonitorConfig, StatusChange
from ibdesk.services.watch.worker_protocol import CYCLE_CHUNK, HANDED, Command, Message
from ibdesk.store import StatusUpdate

log = logging.getLogger("ibdesk.monitor_worker")


MIN_INTERVAL, MAX_INTERVAL = 0.01, 86_400.0


def interval(value: object) -> float:
    """Seconds between checks, refused unless a finite number in [10 ms, 1 day]: NaN or
    infinity would make the monitor's schedule never (or always) due."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidInput(f"An interval must be a number of seconds, not {value!r}.")
    try:
        seconds = float(value)
    except ValueError:
        raise InvalidInput(f"An interval must be a number of seconds, not {value!r}.") from None
    if not math.isfinite(seconds) or not MIN_INTERVAL <= seconds <= MAX_INTERVAL:
        raise InvalidInput(f"An interval must be between {MIN_INTERVAL:g} and "
                           f"{MAX_INTERVAL:g} seconds, not {value!r}.")
    return seconds


def update_json(update: StatusUpdate) -> dict[str, Any]:
    return {"account_id": update.account_id, "status": update.status.value,
            "reason": update.reason, "at": update.at.isoformat(),
            "detail": update.detail.model_dump(mode="json") if update.detail else None,
            "fields": update.fields}


def change_json(change: StatusChange) -> dict[str, Any]:
    return {"type": Message.CHANGE, "event": change.event.model_dump(mode="json"),
            "account": change.account.model_dump(mode="json")}


class _HandedOver(SecretStore):
    """The secrets the window handed over, read-only: the worker must never make an SSH
    key of its own (the droplets know only the window's), so a missing one is an error
    that leaves the account unprobed until the window sends it."""

    def set(self, name: str, value: str) -> None:
        raise SecretsError(f"The monitor process does not keep new secrets ({name}); the "
                           "window hands them over.", secret=name)


class _Worker:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.secrets = MemoryKeyring()
        rt.secrets = _HandedOver(rt.settings.keyring_service, backend=self.secrets)
        self.monitor: Monitor | None = None
        self.metrics: Metrics | None = None
        self.write_lock = asyncio.Lock()
        self.out: TextIO = sys.stdout
        """Where results go: stdout, or the window's local socket (--channel)."""
        self._socket: socket.socket | None = None

    def open_channel(self, where: str, token: str) -> None:
        """Connect to the window's loopback socket and present the one-time token."""
        host, _, port = where.rpartition(":")
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise InvalidInput(f"The monitor's channel must be on this computer, not {host}.")
        self._socket = socket.create_connection((host, int(port)), timeout=30)
        self._socket.settimeout(None)
        self.out = self._socket.makefile("w", encoding="utf-8", newline="\n")
        self.out.write(token + "\n")
        self.out.flush()

    def keep_secrets(self, message: dict[str, Any]) -> None:
        for key, name in HANDED:
            value = message.get(key)
            if isinstance(value, str) and value:
                remember(value)
                self.secrets.set_password(self.rt.settings.keyring_service, name, value)
            elif name == ALERT_URLS and key in message:  # the last target was removed
                with contextlib.suppress(PasswordDeleteError):
                    self.secrets.delete_password(self.rt.settings.keyring_service, name)

    def send(self, data: dict[str, Any]) -> None:
        self.out.write(json.dumps(data, default=str, separators=(",", ":")) + "\n")
        self.out.flush()

    def send_cycle(self, updates: list[StatusUpdate]) -> None:
        """In lines of at most CYCLE_CHUNK updates, so that the window handles a thousand
        accounts' results as several short steps, never one long one."""
        for start in range(0, len(updates), CYCLE_CHUNK):
            self.send({"type": Message.CYCLE,
                       "updates": [update_json(u) for u in updates[start:start + CYCLE_CHUNK]],
                       # the window re-sorts and sums once a cycle, at its last line
                       "last": start + CYCLE_CHUNK >= len(updates)})

    async def handle(self, message: dict[str, Any]) -> None:
        assert self.monitor is not None
        cmd = message.get("cmd")
        error: str | None = None
        try:
            if cmd == Command.REFRESH:
                await self.monitor.refresh(str(message["account_id"]))
            elif cmd == Command.CYCLE:
                await self.monitor.cycle(force=bool(message.get("force")))
            elif cmd == Command.INTERVALS:
                config = self.monitor.config
                steady = interval(message.get("steady", config.slow_interval))
                error_every = interval(message.get("error", config.error_interval))
                config.slow_interval, config.error_interval = steady, error_every
            elif cmd == Command.SECRETS:
                self.keep_secrets(message)
                self.monitor.retry_now()
            else:
                error = f"unknown command {cmd!r}"
        except IbdeskError as exc:
            error = exc.user_message
        except Exception as exc:  # reported to the window, never a silent death
            log.exception("monitor command %s failed", cmd)
            error = f"The monitor failed ({type(exc).__name__})."
        if "id" in message:
            self.send({"type": Message.DONE, "id": message["id"], "error": error})

    async def run(self, config: MonitorConfig, channel: str | None = None) -> None:
        lines = _stdin_lines()
        first = await lines.get()
        if not first:
            return
        if channel is not None:
            token = json.loads(first).get("channel")
            if not isinstance(token, str) or not token:
                raise InvalidInput("The monitor's channel token did not come first.")
            await asyncio.to_thread(self.open_channel, channel, token)
            first = await lines.get()
            if not first:
                return
        self.keep_secrets(json.loads(first))
        self.monitor = Monitor(self.rt, config)
        self.monitor.subscribe(lambda change: self.send(change_json(change)))
        QuietHeap().watch(self.monitor)  # this process is a monitor: see heap.py
        self.monitor.subscribe_cycles(self.send_cycle)
        Alerts(self.rt).watch(self.monitor)  # the trader's alert targets, if any
        try:
            self.metrics = serve_for(self.rt, self.monitor)  # when metrics_port is set
        except IbdeskError as exc:
            log.warning("%s", exc.user_message)
        self.monitor.subscribe_degraded(
            lambda why: self.send({"type": Message.MONITORING, "degraded": why}))
        stop = asyncio.Event()
        watching = asyncio.ensure_future(self.monitor.run(stop))
        self.send({"type": Message.READY})
        pending: set[asyncio.Task[None]] = set()
        while True:
            line = await lines.get()
            if not line:
                break
            try:
                message = json.loads(line)
            except ValueError:
                log.warning("ignored a line that is not JSON")
                continue
            task = asyncio.ensure_future(self.handle(message))
            pending.add(task)
            task.add_done_callback(pending.discard)
        stop.set()
        for task in list(pending):
            task.cancel()
        await asyncio.gather(watching, *pending, return_exceptions=True)
        await self.monitor.close()
        if self.metrics is not None:
            self.metrics.close()


def _stdin_lines() -> asyncio.Queue[str]:
    """Standard input, line by line, read on a thread: portable to every OS (an asyncio
    pipe reader is not, on Windows), and '' at the end of input."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str] = asyncio.Queue()

    def read() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(queue.put_nowait, line)
        loop.call_soon_threadsafe(queue.put_nowait, "")

    threading.Thread(target=read, name="ibdesk-monitor-stdin", daemon=True).start()
    return queue


def run_worker(rt: Runtime, *, steady: float, error: float, fast: float = CADENCE.fast,
               channel: str | None = None) -> int:
    limit_malloc_arenas()  # this process is a monitor: see heap.py
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    quiet_libraries()
    config = MonitorConfig(fast_interval=interval(fast), slow_interval=interval(steady),
                           error_interval=interval(error))
    asyncio.run(_Worker(rt).run(config, channel))
    return 0


__all__ = ["change_json", "run_worker", "update_json"]
