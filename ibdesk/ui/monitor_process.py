"""The window's end of the monitor process (`ibdesk monitor-worker`, see
ibdesk/cli/monitor_worker.py).

QProcess, not asyncio subprocesses: it runs on Qt's own loop on every OS (qasync has no
subprocess support on Windows), and its output arrives as a signal on the Qt thread.
The two secrets the monitor needs are read from the keyring here and written to the
child's standard input, a private pipe; nothing secret is put on its command line or in
its environment. If the child dies, it is started again with a growing delay.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import logging
import secrets as secrets_module
from collections.abc import Callable
from datetime import datetime
from typing import Any

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal
from PySide6.QtNetwork import QHostAddress, QTcpServer, QTcpSocket

from ibdesk.domain.cadence import CADENCE
from ibdesk.domain.errors import GatewayError, IbdeskError
from ibdesk.domain.models import Account, ServerStatus, StatusDetail, StatusEvent
from ibdesk.self_command import self_command
from ibdesk.services.runtime import Runtime
from ibdesk.services.watch.worker_protocol import HANDED, Command, Message
from ibdesk.ui.tasks import spawn

log = logging.getLogger("ibdesk.monitor")
STOP_TIMEOUT_MS = 15000
RESTART_DELAYS = (1.0, 2.0, 5.0, 15.0, 60.0)


class Change:
    """What `status_changed` carries (the shape of services.monitor.StatusChange)."""

    def __init__(self, event: StatusEvent, account: Account) -> None:
        self.event = event
        self.account = account


class Update:
    """One account's result in a cycle (the shape of store.StatusUpdate)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.account_id: str = data["account_id"]
        self.status = ServerStatus(data["status"])
        self.reason: str = data["reason"]
        self.at = datetime.fromisoformat(data["at"])
        self.detail = StatusDetail.model_validate(data["detail"]) if data.get("detail") else None
        self.fields: dict[str, Any] = dict(data.get("fields") or {})


def worker_command() -> tuple[str, list[str]]:
    """How to start ibdesk again as the worker (ibdesk.self_command: `python -m ibdesk`, or
    the packaged app's own executable)."""
    program, *args = self_command()
    return program, args


class MonitorProcess(QObject):
    """Signals:
        ready(): a worker is up and watching (its first start, and after each restart)
    """

    ready = Signal()

    def __init__(self, rt: Runtime, *, steady: float, error: float,
                 fast: float = CADENCE.fast) -> None:
        super().__init__()
        self._rt = rt
        self._fast = fast
        self._steady = steady
        self._error = error
        self._on_change: list[Callable[[Any], None]] = []
        self._on_cycle: list[Callable[[list[Any]], None]] = []
        self._on_cycle_end: list[Callable[[], None]] = []
        self._on_degraded: list[Callable[[str | None], None]] = []
        self._process: QProcess | None = None
        self._buffer = b""
        self._lines: collections.deque[bytes] = collections.deque()
        """Lines from the worker not yet dispatched (`_pump`)."""
        self._pumping = False
        self._errors = b""
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[None]] = {}
        self._ready: asyncio.Future[None] | None = None
        self._starting: asyncio.Future[None] | None = None
        self._closed = False
        self._restarts = 0
        self._sent_secrets: dict[str, str | None] = {}
        self._server: QTcpServer | None = None
        self._socket: QTcpSocket | None = None
        self._channel_token = ""

    def subscribe(self, listener: Callable[[Any], None]) -> None:
        self._on_change.append(listener)

    def subscribe_cycles(self, listener: Callable[[list[Any]], None]) -> None:
        self._on_cycle.append(listener)

    def subscribe_cycle_ends(self, listener: Callable[[], None]) -> None:
        """After the last chunk of a cycle's results."""
        self._on_cycle_end.append(listener)

    def subscribe_degraded(self, listener: Callable[[str | None], None]) -> None:
        """Why the monitor cannot ask DigitalOcean now (None: it can again)."""
        self._on_degraded.append(listener)

    # ------------------------------------------------------------------ process
    async def _secrets(self) -> dict[str, str | None]:
        """What the worker is handed (worker_protocol.HANDED), read off the Qt thread."""
        secrets = self._rt.secrets
        return await asyncio.to_thread(
            lambda: {field: secrets.get(name) for field, name in HANDED})

    async def _ensure_started(self) -> None:
        if self._closed:
            raise GatewayError("The monitor is shut down.")
        if self._starting is None:  # one start at a time, whoever asks first
            self._starting = asyncio.ensure_future(self._start())
        await asyncio.shield(self._starting)
        assert self._ready is not None
        await asyncio.shield(self._ready)

    async def _start(self) -> None:
        settings = self._rt.settings
        handed = await self._secrets()
        if self._closed:
            raise GatewayError("The monitor is shut down.")
        process = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        names = settings.ENV_NAMES
        for field, value in (("home", str(settings.home)),
                             ("do_api_url", settings.do_api_url),
                             ("database_url", settings.effective_database_url),
                             ("keyring_service", settings.keyring_service),
                             ("sandbox_ssh_map_url", settings.sandbox_ssh_map_url),
                             ("public_ip_url", settings.public_ip_url),
                             ("http_timeout", str(settings.http_timeout))):
            if value:
                env.insert(names[field], value)
            else:
                env.remove(names[field])
        env.remove(names["api_key"])  # the token travels through the pipe only
        process.setProcessEnvironment(env)
        process.readyReadStandardOutput.connect(self._read_stdout)
        process.readyReadStandardError.connect(self._read_stderr)
        process.finished.connect(self._on_finished)
        # Results come back over a loopback socket, not the child's stdout: a packaged
        # app's stub may send stdout to a log file (Windows) or the system log (macOS).
        # The socket takes one connection, the one that presents this run's token.
        self._channel_token = secrets_module.token_urlsafe(32)
        server = QTcpServer(self)
        if not server.listen(QHostAddress(QHostAddress.SpecialAddress.LocalHost), 0):
            raise GatewayError("The monitor could not open its local channel "
                               f"({server.errorString()}).")
        server.newConnection.connect(self._on_channel)
        self._server = server
        program, args = worker_command()
        process.start(program, [*args, "--home", str(settings.home), "monitor-worker",
                                "--steady", str(self._steady), "--error", str(self._error),
                                "--fast", str(self._fast),
                                "--channel", f"127.0.0.1:{server.serverPort()}"])
        self._process = process
        self._buffer = b""
        self._ready = asyncio.get_running_loop().create_future()
        self._write({"channel": self._channel_token})  # before any secret
        self._write(handed)
        self._sent_secrets = handed

    def _on_channel(self) -> None:
        """A connection to the channel: kept only if its first line is this run's token."""
        server = self._server
        while server is not None and server.hasPendingConnections():
            sock = server.nextPendingConnection()
            sock.setParent(self)
            sock.readyRead.connect(lambda s=sock: self._read_channel(s))

    def _read_channel(self, sock: QTcpSocket) -> None:
        if sock is not self._socket:  # not yet proven: its first line must be the token
            if not sock.canReadLine():
                if sock.bytesAvailable() > 256:  # not a token: whoever it is, goodbye
                    sock.abort()
                    sock.deleteLater()
                return
            line = bytes(sock.readLine().data()).strip().decode("ascii", "replace")
            if self._socket is not None or line != self._channel_token:
                log.warning("refused a connection to the monitor's channel")
                sock.abort()
                sock.deleteLater()
                return
            self._socket = sock
            if self._server is not None:  # one connection per worker: no more listening
                self._server.close()
        self._feed(bytes(sock.readAll().data()))

    def _write(self, data: dict[str, Any]) -> None:
        if self._process is not None:
            self._process.write((json.dumps(data) + "\n").encode())

    def _read_stdout(self) -> None:
        """The child's stdout: nothing is expected there (results use the channel); a
        line is logged, so that a stray print is seen rather than lost."""
        if self._process is None:
            return
        text = bytes(self._process.readAllStandardOutput().data()).decode("utf-8", "replace")
        for line in text.splitlines():
            if line.strip():
                log.info("monitor stdout: %s", line.strip()[:200])

    def _feed(self, data: bytes) -> None:
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        self._lines.extend(line for line in lines if line.strip())
        if self._lines and not self._pumping:
            self._pumping = True
            asyncio.get_event_loop().call_soon(self._pump)

    def _pump(self) -> None:
        """One line per pass of Qt's loop, the next scheduled only once this one is done:
        a thousand accounts' results arrive as ten lines at once, and ten callbacks
        scheduled together ran in one pass (stalls of 50-90 ms, benchmarks/
        window_stalls.py), with no paint or timer between them."""
        if not self._lines:
            self._pumping = False
            return
        line = self._lines.popleft()
        try:
            self._dispatch(json.loads(line))
        except (ValueError, KeyError, TypeError):
            log.exception("unreadable line from the monitor")
        finally:
            if self._lines:
                asyncio.get_event_loop().call_soon(self._pump)
            else:
                self._pumping = False

    def _read_stderr(self) -> None:
        if self._process is None:
            return
        self._errors += bytes(self._process.readAllStandardError().data())
        *lines, self._errors = self._errors.split(b"\n")
        for line in lines:
            text = line.decode("utf-8", "replace").rstrip()
            if text:
                level = logging.WARNING if text.startswith(("WARNING", "ERROR", "CRITICAL",
                                                            "Traceback")) else logging.INFO
                log.log(level, "%s", text)

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == Message.READY:
            self._restarts = 0
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(None)
            self.ready.emit()
        elif kind == Message.DONE:
            future = self._waiting.pop(int(message["id"]), None)
            if future is not None and not future.done():
                if message.get("error"):
                    future.set_exception(GatewayError(str(message["error"])))
                else:
                    future.set_result(None)
        elif kind == Message.CHANGE and not self._closed:
            change = Change(StatusEvent.model_validate(message["event"]),
                            Account.model_validate(message["account"]))
            for listener in list(self._on_change):
                listener(change)
        elif kind == Message.MONITORING and not self._closed:
            why = message.get("degraded")
            for degraded_listener in list(self._on_degraded):
                degraded_listener(str(why) if why else None)
        elif kind == Message.CYCLE and not self._closed:
            updates = [Update(u) for u in message["updates"]]
            for cycle_listener in list(self._on_cycle):
                cycle_listener(updates)
            if message.get("last", True):
                for end_listener in list(self._on_cycle_end):
                    end_listener()

    def _on_finished(self, code: int, status: QProcess.ExitStatus) -> None:
        failure = GatewayError("The monitor process stopped.")
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(failure)
        self._waiting.clear()
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(failure)
            self._ready.exception()  # retrieved: a later call starts a new process
        process, self._process = self._process, None
        self._starting = None
        self._drop_channel()
        if process is not None:
            process.deleteLater()
        if self._closed:
            return
        delay = RESTART_DELAYS[min(self._restarts, len(RESTART_DELAYS) - 1)]
        self._restarts += 1
        log.warning("the monitor process ended (exit %s); starting it again in %.0f s",
                    code, delay)
        QTimer.singleShot(int(delay * 1000), self._restart)

    def _drop_channel(self) -> None:
        sock, self._socket = self._socket, None
        server, self._server = self._server, None
        with contextlib.suppress(RuntimeError):  # Qt may have deleted them already
            if sock is not None:
                sock.abort()
                sock.deleteLater()
            if server is not None:
                server.close()
                server.deleteLater()

    def _restart(self) -> None:
        if not self._closed and self._process is None:
            spawn(self._restart_and_watch())

    async def _restart_and_watch(self) -> None:
        with contextlib.suppress(IbdeskError):
            await self._ensure_started()

    async def sync_secrets(self) -> None:
        """Hand the worker a new token or the first SSH key (after connect, a new token);
        it then retries at once. Does nothing when the worker is not running."""
        if self._process is None or self._closed:
            return
        secrets = await self._secrets()
        if secrets != self._sent_secrets:
            self._sent_secrets = secrets
            await self._command({"cmd": Command.SECRETS, **secrets}, sync=False)

    async def _command(self, data: dict[str, Any], *, sync: bool = True) -> None:
        await self._ensure_started()
        if sync:
            await self.sync_secrets()
        request = next(self._ids)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[request] = future
        self._write({**data, "id": request})
        await future

    # ------------------------------------------------------------------ use
    async def watch(self) -> None:
        """Start the process; it watches by itself from then on."""
        await self._ensure_started()

    async def refresh(self, account_id: str) -> None:
        await self._command({"cmd": Command.REFRESH, "account_id": account_id})

    async def cycle(self, *, force: bool = False) -> None:
        await self._command({"cmd": Command.CYCLE, "force": force})

    def set_intervals(self, *, steady: float | None = None, error: float | None = None) -> None:
        self._steady = steady if steady is not None else self._steady
        self._error = error if error is not None else self._error
        self._write({"cmd": Command.INTERVALS, "steady": self._steady, "error": self._error})

    @property
    def steady(self) -> float:
        return self._steady

    async def close(self) -> None:
        """End of input tells the worker to close its connections and exit; waited for
        without blocking the window, then killed if it does not go."""
        if self._closed:
            return
        self._closed = True
        if self._starting is not None and not self._starting.done():
            with contextlib.suppress(Exception):
                await asyncio.shield(self._starting)
        process = self._process
        if process is None:
            return
        done = asyncio.get_running_loop().create_future()
        process.finished.connect(lambda *_: None if done.done() else done.set_result(None))
        if process.state() != QProcess.ProcessState.NotRunning:
            process.closeWriteChannel()
            try:
                await asyncio.wait_for(done, STOP_TIMEOUT_MS / 1000)
            except TimeoutError:
                log.warning("the monitor process did not stop in time; killing it")
                process.kill()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done, 5)


__all__ = ["Change", "MonitorProcess", "Update", "worker_command"]
