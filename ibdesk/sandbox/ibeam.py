"""The light simulated IBeam: the default process of a sandbox droplet's `ibeam` container.

It says and does what IBeam 0.5.12 does (read in Voyz/ibeam at tag v0.5.12, and checked
against that code running in the sandbox, tests/sandbox/test_parity.py), only without a
browser and in simulated time:

* its output is IBeam's, line for line where ibdesk relies on a line: INFO and below on
  stdout, WARNING and above on stderr (`logs.py`), and the daily log file in the outputs
  folder;
* it runs as the container's user (uid 1000): it cannot read secret files, or write its
  log, where uid 1000 may not (`Disk.can`), and then fails as IBeam does — "Unable to
  read env value for IBEAM_ACCOUNT: value is not a file", "Account cannot be None", or a
  `PermissionError` traceback before the first line;
* a login makes at most `IBEAM_MAX_IMMEDIATE_ATTEMPTS` attempts; only IBKR's
  `Invalid username password combination` counts towards `IBEAM_MAX_FAILED_AUTH`; a
  refused 2FA code is retried and never counted;
* at a 2FA prompt without a handler it shuts down (it does not wait); a shutdown during
  the first login ends the process (the container exits), one during a later maintenance
  stops only the health server, as IBeam's maintenance thread does;
* its health server is IBeam's: plain HTTP/1.0, one request at a time, the connection
  closed after every answer; the gateway answers 401 without a session. (For the
  monitor's benchmark only, `HealthServer.KEEPALIVE` makes it an HTTP/1.1 server that
  keeps a connection open between requests, to measure what IBeam's choice costs.)

Whether a password or a code is right is IBKR's to say (`IBKR`, shared with the real
IBeam's gateway).
"""

from __future__ import annotations

import asyncio
import json
import posixpath
import secrets
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from enum import StrEnum
from typing import Any, cast

from aiohttp import web
from asyncssh.forward import SSHForwarder

from ibdesk.domain.ibeam import DEFAULT_MAX_FAILED_AUTH
from ibdesk.sandbox.disk import EXECUTE, READ, WRITE, Disk
from ibdesk.sandbox.docker import Container
from ibdesk.sandbox.ibkr import IBKR, PAPER_MODE_TEXT, WRONG_PASSWORD_TEXT, account_number, totp

VERSION = "0.5.12"
_DAY = 86_400.0
DEFAULT_IMMEDIATE_ATTEMPTS = 10
"""IBeam's own default for IBEAM_MAX_IMMEDIATE_ATTEMPTS."""
AUTH_URL = "https://localhost:5000/sso/Login?forwardTo=22&RL=1&ip2loc=on"


class HealthServer(StrEnum):
    """How the health server speaks."""

    HTTP10 = "http10"
    """IBeam's own: HTTP/1.0, the connection closed after every answer."""
    KEEPALIVE = "keepalive"
    """Not IBeam: HTTP/1.1 with Content-Length, the connection kept open for the next
    request (a comparison for the monitor's benchmark)."""


@dataclass
class IBeamTiming:
    login_seconds: float = 3.0
    """How long a login takes (IBeam drives a browser through IBKR's login page)."""
    maintenance_seconds: float = 60.0
    """IBEAM_MAINTENANCE_INTERVAL: how often IBeam checks and re-authenticates."""
    reset_hour_utc: int = 5
    """IBKR's daily session reset (about midnight in New York)."""
    requests_per_second: int = 10
    """The gateway's rate limit per session."""
    health_server: HealthServer = HealthServer.HTTP10


@dataclass
class GatewayFaults:
    """What the admin API switches on for one droplet's gateway (they outlive restarts)."""

    down: bool = False
    two_fa_pending: bool = False
    """The 2FA handler returns no code (a phone approval that never comes)."""
    competing: bool = False
    access_denied: bool = False
    """The gateway's IP allow list refuses every client ("Access Denied")."""
    page_timeout: bool = False
    """IBKR's login page does not load: each login attempt times out."""
    readyz_delay_seconds: float = 0.0
    """/readyz tickles the gateway (IBeam waits up to IBEAM_REQUEST_TIMEOUT, 15 s)."""


@dataclass
class HostContext:
    """What an IBeam container gets from its droplet and from the sandbox."""

    gateway_id: str
    disk: Disk
    ibkr: IBKR
    now: Callable[[], float]
    """Simulated time (the world's clock)."""
    clock_skew: Callable[[], float]
    timing: IBeamTiming
    faults: GatewayFaults
    tls: ssl.SSLContext


def to_bool(value: str) -> bool:
    """IBeam's `strtobool`."""
    text = str(value).strip().lower()
    if text in ("y", "yes", "t", "true", "on", "1"):
        return True
    if text in ("n", "no", "f", "false", "off", "0"):
        return False
    raise ValueError(f"invalid truth value {value!r}")


@dataclass
class _Session:
    authenticated: bool = False
    connected: bool = False
    message: str = ""
    since: float | None = None
    username: str = ""
    token: str = field(default_factory=lambda: secrets.token_hex(8))


class _Shutdown(Exception):
    """IBeam's AttemptException(cause='shutdown')."""


class LightIBeam:
    """IBeam's process inside one container."""

    def __init__(self, container: Container, host: HostContext) -> None:
        self.container = container
        self.host = host
        self.env = container.config.env
        self.uid, self.gid = container.config.user
        self.state = "running"  # running | hung (health server shut down) | exited
        self.deactivated = False
        self.session = _Session()
        self._reset_kept: tuple[int, float] = (-1, 0.0)  # (hour, moment): _last_reset's
        self.failures = 0
        self.login_attempts = 0
        self.waiting_2fa = False
        self.account = ""
        self.password = ""
        self.next_login_at: float | None = None
        self.first_login = True
        self.maintenance_started = False
        self.gateway_running = False
        self._file_lines: list[str] = []
        self._hits: deque[float] = deque()
        self._health_lock = asyncio.Lock()
        self._gateway_app: web.Server | None = None
        self._tasks: set[asyncio.Future[Any]] = set()

    # ------------------------------------------------------------------ settings
    @property
    def faults(self) -> GatewayFaults:
        return self.host.faults

    def _int(self, name: str, default: int) -> int:
        try:
            return int(self.env.get(name, default))
        except ValueError:
            return default

    @property
    def max_failed_auth(self) -> int:
        return self._int("IBEAM_MAX_FAILED_AUTH", DEFAULT_MAX_FAILED_AUTH)

    @property
    def max_immediate(self) -> int:
        return max(1, self._int("IBEAM_MAX_IMMEDIATE_ATTEMPTS", DEFAULT_IMMEDIATE_ATTEMPTS))

    @property
    def maintenance_seconds(self) -> float:
        return float(self._int("IBEAM_MAINTENANCE_INTERVAL",
                               int(self.host.timing.maintenance_seconds)) or 1)

    @property
    def paper(self) -> bool:
        return to_bool(self.env.get("IBEAM_USE_PAPER_ACCOUNT", "False"))

    @property
    def two_fa_handler(self) -> str | None:
        return self.env.get("IBEAM_TWO_FA_HANDLER") or None

    @property
    def health_port(self) -> int:
        return self._int("IBEAM_HEALTH_SERVER_PORT", 5001)

    # ------------------------------------------------------------------ output
    def log(self, level: str, message: str) -> None:
        stamp = datetime.fromtimestamp(self.host.now(), UTC)
        line = f"{stamp:%Y-%m-%d %H:%M:%S},{stamp.microsecond // 1000:03d}|{level}| {message}"
        self.container.write("stdout" if level in ("D", "I") else "stderr", line)
        self._file_lines.append(line)
        self._flush_file(stamp)

    def _outputs(self) -> tuple[bool, str]:
        """(mounted, droplet path) of the outputs folder IBeam writes its log into."""
        folder = self.env.get("IBEAM_OUTPUTS_DIR", "/srv/outputs")
        mount, path = self.container.config.host_path(folder)
        return mount is not None, path

    def _flush_file(self, stamp: datetime) -> None:
        mounted, folder = self._outputs()
        if not mounted or not to_bool(self.env.get("IBEAM_LOG_TO_FILE", "True")):
            self._file_lines.clear()  # the container's own layer: gone with the container
            return
        path = posixpath.join(folder, f"ibeam_log__{stamp:%Y-%m-%d}.txt")
        disk = self.host.disk
        new = not disk.host(path).exists()
        with open(disk.host(path), "a", encoding="utf-8") as fh:
            for line in self._file_lines:
                fh.write(line + "\n")
        self._file_lines.clear()
        if new:
            disk.chown(path, self.uid, self.gid)

    def _can(self, container_path: str, access: int) -> bool:
        """Can the container's user do `access` on a container path? Inside a bind mount
        only the mounted folder's own tree counts (the host's folders above it are not
        the container's); the container's own layer is IBeam's image, owned by it."""
        mount, path = self.container.config.host_path(container_path)
        if mount is None:
            return True
        disk = self.host.disk
        base = disk.normalise(mount.source)
        rest = disk.normalise(path)[len(base):].strip("/")
        current = base
        for part in [p for p in rest.split("/") if p]:
            if not disk._allowed(current, self.uid, self.gid, EXECUTE):
                return False
            current = posixpath.join(current, part)
        if access & WRITE and mount.read_only:
            return False
        return disk._allowed(current, self.uid, self.gid, access)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        mounted, folder = self._outputs()
        stamp = datetime.fromtimestamp(self.host.now(), UTC)
        log_file = f"{self.env.get('IBEAM_OUTPUTS_DIR', '/srv/outputs')}/ibeam_log__" \
                   f"{stamp:%Y-%m-%d}.txt"
        if to_bool(self.env.get("IBEAM_LOG_TO_FILE", "True")) and mounted and not (
                self._can(log_file, WRITE) if self.host.disk.host(
                    posixpath.join(folder, posixpath.basename(log_file))).exists()
                else self._can(posixpath.dirname(log_file), WRITE | EXECUTE)):
            self._crash(f"PermissionError: [Errno 13] Permission denied: '{log_file}'",
                        ["ibeam_starter.py\", line 48, in <module>\n    logs.initialize(",
                         "src/logs.py\", line 38, in initialize\n    file_handler = "
                         "DailyRotatingFileHandler(os.path.join(outputs_dir, 'ibeam_log'))"])
            return
        self.log("I", f"############ Starting IBeam version {VERSION} ############")
        handler = self.two_fa_handler
        if handler == "PYOTP":
            secret = self.env.get("IBEAM_PYOTP_SECRET")
            if not secret:
                self._crash("ValueError: IBEAM_PYOTP_SECRET must be set",
                            ["src/two_fa_handlers/pyotp_handler.py\", line 38, in __init__\n"
                             "    raise ValueError(\"IBEAM_PYOTP_SECRET must be set\")"])
                return
            code = totp(secret, time.time() + self.host.clock_skew())
            self.log("I", f"PyotpHandler initialized - test code ending in {code[-3:]}, "
                          "expires in 17s")
        self.log("I", f"Secrets source: {self.env.get('IBEAM_SECRETS_SOURCE', 'env')}")
        self.log("I", f"Health server started at port={self.health_port}")
        self.log("I", "Configuration:\n" + json.dumps({
            "OUTPUTS_DIR": self.env.get("IBEAM_OUTPUTS_DIR", "/srv/outputs"),
            "GATEWAY_DIR": self.env.get("IBEAM_GATEWAY_DIR"),
            "MAINTENANCE_INTERVAL": self.maintenance_seconds, "TWO_FA_HANDLER": handler,
            "USE_PAPER_ACCOUNT": self.paper, "MAX_FAILED_AUTH": self.max_failed_auth,
            "MAX_IMMEDIATE_ATTEMPTS": self.max_immediate}))
        self._start_gateway()
        self.next_login_at = self.host.now() + self.host.timing.login_seconds

    def _crash(self, error: str, frames: list[str]) -> None:
        """An exception before or outside IBeam's logging: a traceback on stderr, exit 1."""
        lines = ["Traceback (most recent call last):"]
        lines += [f"  File \"/srv/ibeam/{frame}" for frame in frames]
        lines.append(error)
        self.container.write("stderr", "\n".join(lines))
        self._exit(1)

    def _start_gateway(self) -> None:
        if self.gateway_running:
            return
        self.log("I", "Gateway not found, starting new one...")
        self.log("I", "Note that the Gateway log below may display \"Open https://localhost:"
                      "[PORT] to login\" - ignore this command.")
        self.log("I", "Starting Gateway as Linux process with params: ['bash', 'bin/run.sh', "
                      "'root/conf.yaml']")
        self.gateway_running = True
        self.log("I", "Gateway started with pids: [12]")
        self.log("I", "Gateway connection established")
        self.container.write("stdout", "Open https://localhost:5000 to login")

    def _exit(self, code: int) -> None:
        self.state = "exited"
        self.gateway_running = False
        self.session = _Session()
        self.next_login_at = None
        self.container.exited(code)

    async def stop(self, timeout: float) -> None:
        if self.state != "exited":
            self._exit(143)
        await self.close()

    def resume_session(self) -> None:
        """The sandbox process restarted but this IBeam did not: log in at once."""
        if self.state == "running" and self.next_login_at is not None:
            self.next_login_at = self.host.now()
            self.advance()

    async def close(self) -> None:
        if self._gateway_app is not None:
            await self._gateway_app.shutdown(0.1)
            self._gateway_app = None

    # ------------------------------------------------------------------ simulated time
    def advance(self) -> None:
        """Apply what has happened since the last look."""
        if self.state != "running" or self.deactivated:
            return
        now = self.host.now()
        self._daily_reset(now)
        if self.next_login_at is not None and now >= self.next_login_at:
            self._run(now)

    def _last_reset(self, now: float) -> float:
        """The latest daily reset at or before `now`. Kept until the next one is due:
        every droplet's IBeam asks on every tick of the sandbox and every health request,
        and making the datetime each time was a tenth of `sandbox serve`'s CPU at 1,000
        droplets."""
        hour = self.host.timing.reset_hour_utc
        kept_hour, kept = self._reset_kept
        if kept_hour == hour and kept <= now < kept + _DAY:
            return kept
        moment = datetime.fromtimestamp(now, UTC).replace(
            hour=hour, minute=0, second=0, microsecond=0)
        if moment.timestamp() > now:
            moment -= timedelta(days=1)
        self._reset_kept = (hour, moment.timestamp())
        return moment.timestamp()

    def _daily_reset(self, now: float) -> None:
        session = self.session
        if session.authenticated and session.since is not None and \
                session.since < self._last_reset(now) <= now:
            self.session = _Session(connected=True, username=session.username)
            # IBeam notices at its next maintenance run
            self.next_login_at = self._last_reset(now) + self.maintenance_seconds

    def _run(self, now: float) -> None:
        """A login (the first start) or a maintenance run."""
        self.next_login_at = None
        first = self.first_login
        self.first_login = False
        if not first:
            self.log("I", "Maintenance")
        try:
            ok = self._try_authenticating()
        except _Shutdown:
            self.log("W", "Shutting IBeam down due to critical error.")
            if first:
                self._exit(0)  # the first start ends the script, and the container
            else:
                self.state = "hung"  # the maintenance thread stops the health server only
            return
        if ok:
            self.log("I", f"Gateway running and authenticated, session id: "
                          f"{self.session.token}, server name: JifN19053")
        if not self.maintenance_started:
            self.maintenance_started = True
            self.log("I", f"Starting maintenance with interval {self.maintenance_seconds:g} "
                          "seconds")
        self.next_login_at = now + self.maintenance_seconds

    def _try_authenticating(self) -> bool:
        if self.faults.down:
            self.log("E", "Cannot communicate with the Gateway. Consider increasing "
                          "IBEAM_GATEWAY_STARTUP")
            return False
        session = self.session
        if session.authenticated and not self.competing:
            return True
        self.log("I", 'Authentication strategy: "B"')
        if not session.connected:
            self.log("I", "No active sessions, logging in...")
            return self._log_in()
        if self.competing:
            self.log("I", "Competing or disconnected Gateway session found, logging out and "
                          "reauthenticating...")
            return True  # IBKR gives the session back; it stays competing while the fault lasts
        self.log("I", "Active session found but not authenticated, reauthenticating...")
        user = self.host.ibkr.users.find(self.account)
        if user is not None and user.password == self.password:
            self.session = _Session(authenticated=True, connected=True, since=self.host.now(),
                                    username=self.account)
            return True
        self.log("E", "Repeatedly reauthenticating failed 3 times. Killing the Gateway and "
                      "restarting the authentication process.")
        self.session = _Session()
        self.log("I", "No active sessions, logging in...")
        return self._log_in()

    def _secret(self, name: str) -> str | None:
        value = self.env.get(name)
        if value is None:
            return None
        if self.env.get("IBEAM_SECRETS_SOURCE", "env") != "fs":
            return value.rstrip("\r\n")
        mount, path = self.container.config.host_path(value)
        disk = self.host.disk
        visible = disk.host(path).is_file() and self._can(posixpath.dirname(value), EXECUTE) \
            if mount is not None else False
        if not visible:
            self.log("E", f"Unable to read env value for {name}: value is not a file")
            return None
        if not self._can(value, READ):
            self.log("E", f"Unable to read env value for {name} as a file.")
            return None
        # text mode (universal newlines), then IBeam's rstrip('\r\n')
        with open(disk.host(path), encoding=self.env.get("IBEAM_ENCODING", "UTF-8")) as fh:
            return fh.read().rstrip("\r\n")

    def _log_in(self) -> bool:
        self.log("I", f"Loading auth webpage at {AUTH_URL}")
        if self.faults.page_timeout:
            self.log("E", "Timeout reached when waiting for authentication. The website seems "
                          "to not be loaded correctly. Consider increasing "
                          f"IBEAM_PAGE_LOAD_TIMEOUT. \nWebsite URL: {AUTH_URL} \n \nException:"
                          "\n  <class 'selenium.common.exceptions.TimeoutException'> Message:")
            self._cleanup()
            self.log("I", "Logging in failed")
            return False
        self.log("I", "Gateway auth webpage loaded")
        success = False
        for attempt in range(1, self.max_immediate + 1):
            self.log("I", f"Login attempt number {attempt}")
            self.login_attempts += 1
            outcome = self._attempt()
            if outcome == "success":
                success = True
                break
            if outcome == "break":
                break
        self._cleanup()
        self.log("I", f"Logging in {'succeeded' if success else 'failed'}")
        return success

    def _cleanup(self) -> None:
        self.log("I", "Cleaning up the resources. Display: <pyvirtualdisplay.display.Display "
                      "object> | Driver: <selenium.webdriver.chrome.webdriver.WebDriver>")

    def _attempt(self) -> str:
        """One attempt of IBeam's `login_handler.attempt`: success, continue or break;
        raises _Shutdown."""
        account = self._secret("IBEAM_ACCOUNT")
        password = self._secret("IBEAM_PASSWORD")
        if account is None:
            self.log("E", "Account cannot be None. Specify by setting IBEAM_ACCOUNT "
                          "environment variable.")
            raise _Shutdown
        if password is None:
            self.log("E", "Password cannot be None. Specify by setting IBEAM_PASSWORD "
                          "environment variable.")
            raise _Shutdown
        self.account, self.password = account, password
        ibkr, gateway = self.host.ibkr, self.host.gateway_id
        if self.paper:
            self.log("I", "Switching to paper mode")
        self.log("I", "Submitting the form")
        outcome = ibkr.login(gateway, account, password, paper=self.paper)
        if outcome.result == "error" and outcome.error == PAPER_MODE_TEXT:
            self.log("I", "Switching to paper mode and reattempting to submit the form")
            outcome = ibkr.login(gateway, account, password, paper=True)
        if outcome.result == "2fa":
            self.log("I", "Credentials correct, but Gateway requires two-factor "
                          "authentication.")
            handler = self.two_fa_handler
            if handler is None:
                self.log("C", "######## ATTENTION! ######## No 2FA handler found. You may "
                              "define your own 2FA handler or use built-in handlers. See "
                              "documentation for more: https://github.com/Voyz/ibeam/wiki/"
                              "Two-Factor-Authentication")
                self.waiting_2fa = True
                raise _Shutdown
            code = self._two_fa_code(handler)
            if code is None:
                self.log("W", "No 2FA code returned. Aborting authentication.")
                self.waiting_2fa = True
                return "break"
            self.log("I", "Submitting the 2FA form")
            outcome = ibkr.second_factor(outcome.challenge, code)
        if outcome.result == "ok":
            self.log("I", 'Webpage displayed "Client login succeeds"')
            self.failures = 0
            self.waiting_2fa = False
            self.session = _Session(authenticated=True, connected=True, since=self.host.now(),
                                    username=account)
            return "success"
        self.log("E", f"Error displayed by the login webpage: {outcome.error}")
        if outcome.error == WRONG_PASSWORD_TEXT and self.max_failed_auth > 0:
            self.log("W", "Increased presubmit buffer to 10")
            self.failures += 1
            if self.failures >= self.max_failed_auth:
                self.log("C", "######## ATTENTION! ######## Maximum number of failed "
                              "authentication attempts (IBEAM_MAX_FAILED_AUTH="
                              f"{self.max_failed_auth}) reached. IBeam will shut down to "
                              "prevent an account lock-out. It is recommended you attempt to "
                              "authenticate manually in order to reset the counter. Read the "
                              "execution logs and report issues at "
                              "https://github.com/Voyz/ibeam/issues")
                raise _Shutdown
        return "continue"

    def _two_fa_code(self, handler: str) -> str | None:
        self.log("I", f"Attempting to acquire 2FA code from: {handler}")
        if self.faults.two_fa_pending or handler != "PYOTP":
            return None
        code = totp(self.env.get("IBEAM_PYOTP_SECRET", ""), time.time() +
                    self.host.clock_skew())
        self.log("I", f"Generated TOTP code ending in {code[-3:]} (valid for 21s)")
        return code

    # ------------------------------------------------------------------ faults & state
    @property
    def competing(self) -> bool:
        return self.faults.competing and self.session.authenticated

    def set_faults(self, *, down: bool | None = None, two_fa_pending: bool | None = None,
                   competing: bool | None = None, session_reset: bool = False,
                   access_denied: bool | None = None, page_timeout: bool | None = None,
                   readyz_delay_seconds: float | None = None,
                   **unknown: Any) -> dict[str, Any]:
        if unknown:
            raise ValueError(f"unknown gateway faults: {sorted(unknown)}")
        self.advance()
        faults = self.faults
        if down is not None:
            faults.down = down
            if down:
                self.container.write("stdout", "Gateway process exited")
                self.session = _Session()
                self.gateway_running = False
            elif self.state == "running":
                self.gateway_running = True
                if self.next_login_at is None and not self.session.authenticated:
                    self.next_login_at = self.host.now() + self.host.timing.login_seconds
        for name, value in (("two_fa_pending", two_fa_pending), ("competing", competing),
                            ("access_denied", access_denied), ("page_timeout", page_timeout)):
            if value is not None:
                setattr(faults, name, value)
        if readyz_delay_seconds is not None:
            faults.readyz_delay_seconds = float(readyz_delay_seconds)
        if session_reset and self.session.authenticated:
            self.session = _Session(connected=True, username=self.session.username)
            self.next_login_at = self.host.now() + self.host.timing.login_seconds
        return self.describe()

    def describe(self) -> dict[str, Any]:
        self.advance()
        faults = self.faults
        return {"state": self.state, "deactivated": self.deactivated,
                "authenticated": self.session.authenticated,
                "connected": self.session.connected, "competing": self.competing,
                "message": self.session.message, "failures": self.failures,
                "login_attempts": self.login_attempts, "waiting_2fa": self.waiting_2fa,
                "paper": self.paper, "two_fa_handler": self.two_fa_handler,
                "down": faults.down, "two_fa_pending": faults.two_fa_pending,
                "access_denied": faults.access_denied, "page_timeout": faults.page_timeout,
                "kind": "light"}

    # ------------------------------------------------------------------ its servers
    def listening(self, port: int) -> bool:
        self.advance()
        if port == self.health_port:
            return self.state == "running"
        return self.state in ("running", "hung") and self.gateway_running and \
            not self.faults.down

    async def connect(self, port: int) -> SSHForwarder | None:
        """A connection from the container's published port to the server inside."""
        if not self.listening(port):
            return None
        loop = asyncio.get_running_loop()
        server_end, channel_end = socket.socketpair()
        if port == self.health_port:
            accept = loop.connect_accepted_socket(lambda: _HealthProtocol(self), server_end)
        else:
            if self._gateway_app is None:
                self._gateway_app = web.Server(self._on_gateway)
            gateway_app = self._gateway_app  # a protocol factory, which aiohttp's types omit
            accept = loop.connect_accepted_socket(cast(Any, gateway_app), server_end,
                                                  ssl=self.host.tls)
        # Not awaited here: a TLS server side only returns after its handshake, which
        # needs the client's bytes that flow once this channel is open.
        task = asyncio.ensure_future(accept)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        _, peer = await loop.create_connection(SSHForwarder, sock=channel_end)
        return SSHForwarder(peer)

    def health_answer(self, path: str) -> tuple[int, str]:
        """IBeam's health_server.py: /livez, /readyz (tickles the gateway), /activate,
        /deactivate."""
        self.advance()
        if path == "/livez":
            return (200, "OK") if self.state == "running" else (500, "Internal Error")
        if path == "/readyz":
            if self.session.authenticated and not self.faults.down and not self.deactivated:
                return 200, "OK"
            return 503, "Not Ready"
        if path == "/activate":
            if self.deactivated:
                self.deactivated = False
                self.log("I", "Activating")
                self.next_login_at = self.host.now() + self.host.timing.login_seconds
            return 200, "OK"
        if path == "/deactivate":
            if not self.deactivated:
                self.log("I", "Deactivating")
                self.deactivated = True
                self.session = _Session()
                self.next_login_at = None
            return 200, "OK"
        return 404, "Not Found"

    def _auth_status(self) -> dict[str, Any]:
        session = self.session
        return {"authenticated": session.authenticated, "competing": self.competing,
                "connected": session.connected, "message": session.message,
                "MAC": "98:F2:B3:23:BF:A0",
                "serverInfo": {"serverName": "JifN19053",
                               "serverVersion": "Build 10.30.1a, Oct 14, 2025 4:22:11 PM"},
                "fail": ""}

    async def _on_gateway(self, request: web.BaseRequest) -> web.StreamResponse:
        self.advance()
        now = time.monotonic()
        while self._hits and self._hits[0] <= now - 1:
            self._hits.popleft()
        if len(self._hits) >= self.host.timing.requests_per_second:
            return web.Response(status=429, text="Too Many Requests")
        self._hits.append(now)
        if self.faults.access_denied:  # the Client Portal's allow-list answer, as text
            return web.Response(status=403, text="Access Denied", content_type="text/html")
        path = request.path
        session = self.session
        if path.startswith("/v1/") and not (session.authenticated or session.connected):
            return web.json_response({"error": "no session"}, status=401)
        if path == "/v1/api/tickle" and request.method in ("POST", "GET"):
            return web.json_response({
                "session": session.token,
                "ssoExpires": int(max(0.0, 86400 - (self.host.now() - (session.since or
                                                                       self.host.now())))
                                  * 1000),
                "collission": False, "userId": 0,
                "iserver": {"authStatus": self._auth_status()}})
        if path == "/v1/api/iserver/auth/status" and request.method in ("POST", "GET"):
            return web.json_response(self._auth_status())
        if path == "/v1/api/iserver/accounts" and session.authenticated:
            number = account_number(session.username or self.account, self.paper)
            return web.json_response({"accounts": [number], "selectedAccount": number,
                                      "isPaper": self.paper})
        return web.json_response({"error": f"{path} not found"}, status=404)


class _HealthProtocol(asyncio.Protocol):
    """IBeam's `HTTPServer` + `BaseHTTPRequestHandler` on the wire: HTTP/1.0, no
    Content-Length, the connection closed after one answer, one request at a time. With
    `HealthServer.KEEPALIVE`, an HTTP/1.1 request without `Connection: close` gets an
    HTTP/1.1 answer with Content-Length and the connection stays open."""

    def __init__(self, ibeam: LightIBeam) -> None:
        self._ibeam = ibeam
        self._keepalive = ibeam.host.timing.health_server is HealthServer.KEEPALIVE
        self._buffer = b""
        self._transport: asyncio.Transport | None = None
        self._answering: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self._next()

    def _next(self) -> None:
        if self._answering is not None and not self._answering.done():
            return  # one request at a time; the next waits in the buffer
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        request, self._buffer = self._buffer[:end], self._buffer[end + 4:]
        self._answering = asyncio.ensure_future(self._answer(request))  # held: weak in loop

    async def _answer(self, request: bytes) -> None:
        assert self._transport is not None
        lines = request.decode("latin-1").split("\r\n")
        line = lines[0].split()
        method, path, version = (line + ["", "", ""])[:3]
        keep = self._keepalive and version == "HTTP/1.1" and not any(
            h.lower().replace(" ", "") == "connection:close" for h in lines[1:])
        async with self._ibeam._health_lock:
            if method != "GET":
                status, body = 501, "Unsupported method"
            else:
                if path == "/readyz" and self._ibeam.faults.readyz_delay_seconds:
                    await asyncio.sleep(self._ibeam.faults.readyz_delay_seconds)
                status, body = self._ibeam.health_answer(path)
            reason = {200: "OK", 404: "Not Found", 500: "Internal Server Error",
                      501: "Not Implemented", 503: "Service Unavailable"}[status]
            payload = body.encode()
            head = (f"HTTP/1.{1 if keep else 0} {status} {reason}\r\n"
                    f"Server: BaseHTTP/0.6 Python/3.11.13\r\n"
                    f"Date: {formatdate(usegmt=True)}\r\nContent-type: text/html\r\n"
                    + (f"Content-Length: {len(payload)}\r\n" if keep else "") + "\r\n")
            if self._transport.is_closing():
                return
            self._transport.write(head.encode() + payload)
            if not keep:
                self._transport.close()
            # BaseHTTPRequestHandler.log_request: every answer, on IBeam's stderr
            stamp = time.strftime("%d/%b/%Y %H:%M:%S", time.localtime())
            self._ibeam.container.write(
                "stderr", f'127.0.0.1 - - [{stamp}] "{" ".join(line[:3]) or "-"}" {status} -')
        if keep:
            self._next()


__all__ = ["GatewayFaults", "HealthServer", "HostContext", "IBeamTiming", "LightIBeam",
           "to_bool"]
