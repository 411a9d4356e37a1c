"""A simulated IBeam container: its login loop, its health server and the gateway.

It behaves as DESIGN.md describes the real one: it reads `IBEAM_ACCOUNT` /
`IBEAM_PASSWORD` as file paths (`IBEAM_SECRETS_SOURCE=fs`, trailing CR/LF stripped, as
IBeam does), logs in after a few seconds only when they match a user of the sandbox's
IBKR user list, counts wrong passwords and shuts down at `IBEAM_MAX_FAILED_AUTH`
(after which its ports refuse connections), stops at the 2FA prompt when the login
needs 2FA and no handler is set, loses its session at IBKR's daily reset and logs in
again at its next maintenance run, and reports a competing session when told to.

Its servers are reached only through a simulated host's SSH port forwarding, like the
real ones bound to 127.0.0.1 on the droplet: the host hands each forwarded connection
to `health_server` / `gateway_server` (aiohttp protocol factories), no port is opened.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from ibdesk.domain.ibeam import (
    DEFAULT_MAX_FAILED_AUTH,
    GATEWAY_PORT,
    HEALTH_PORT,
    OUTPUTS_DIR,
    parse_env_list,
    read_secret_text,
)


@dataclass(frozen=True)
class IBKRUser:
    username: str
    password: str
    totp_secret: str | None = None


class UserBook:
    """The sandbox's IBKR logins, from a JSON file: {"users": [{username, password,
    totp_secret?}]} (a file, so that passwords never sit on a command line)."""

    def __init__(self, users: list[IBKRUser]) -> None:
        self._users = {u.username: u for u in users}

    @classmethod
    def load(cls, path: Path) -> UserBook:
        data = json.loads(path.read_text(encoding="utf-8"))
        users = [IBKRUser(str(u["username"]), str(u["password"]),
                          u.get("totp_secret") or None) for u in data["users"]]
        return cls(users)

    def find(self, username: str) -> IBKRUser | None:
        return self._users.get(username)

    def change(self, username: str, *, password: str | None = None,
               totp_secret: str | None = None) -> IBKRUser:
        """What a trader does on IBKR's site (a new password, a new 2FA secret): the
        gateway's stored login stops working, as it does for real."""
        user = self._users.get(username)
        if user is None:
            raise KeyError(username)
        changed = IBKRUser(username, user.password if password is None else password,
                           user.totp_secret if totp_secret is None else totp_secret or None)
        self._users[username] = changed
        return changed

    @property
    def users(self) -> list[IBKRUser]:
        return list(self._users.values())


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


@dataclass
class _Faults:
    down: bool = False
    two_fa_pending: bool = False
    competing: bool = False
    access_denied: bool = False
    """The gateway's IP allow list refuses every client ("Access Denied")."""
    page_timeout: bool = False
    """IBKR's login page does not load: each login attempt times out."""


@dataclass
class _Session:
    authenticated: bool = False
    connected: bool = False
    message: str = ""
    since: float | None = None
    token: str = field(default_factory=lambda: secrets.token_hex(16))


class SimIBeam:
    """One IBeam container on one simulated host."""

    def __init__(self, root: Path, users: UserBook, now: Callable[[], float],
                 timing: IBeamTiming) -> None:
        self.root = root
        self.users = users
        self.now = now
        self.timing = timing
        self.state = "stopped"  # stopped | running | shutdown
        self.deactivated = False
        self.faults = _Faults()
        self.session = _Session()
        self.failures = 0
        self.max_failed_auth = DEFAULT_MAX_FAILED_AUTH
        self.next_login_at: float | None = None
        self.waiting_2fa = False
        self.account = ""
        self.password = ""
        self.paper = False
        self.two_fa_handler: str | None = None
        self.pyotp_secret: str | None = None
        self.stdout: deque[str] = deque(maxlen=5000)
        self.login_attempts = 0
        self._hits: deque[float] = deque()
        self._health: web.Server | None = None
        self._gateway: web.Server | None = None

    # ------------------------------------------------------------------ files & logs
    def _host_path(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def log(self, level: str, message: str) -> None:
        stamp = datetime.fromtimestamp(self.now(), UTC)
        line = f"{stamp:%Y-%m-%d %H:%M:%S},{stamp.microsecond // 1000:03d}|{level}| {message}"
        self.stdout.append(line)
        outputs = self._host_path(OUTPUTS_DIR)
        outputs.mkdir(parents=True, exist_ok=True)
        with open(outputs / f"ibeam_log__{stamp:%Y-%m-%d}.txt", "a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    # ------------------------------------------------------------------ lifecycle
    def start(self, env_file: str) -> str | None:
        """Start the container with IBeam's env file; returns an error text or None."""
        path = self._host_path(env_file)
        if not path.is_file():
            return f"{env_file}: No such file or directory"
        env = parse_env_list(path.read_text(encoding="utf-8"))
        self.stdout.clear()
        self.log("I", "############ Starting IBeam version 0.5.x ############")
        source = env.get("IBEAM_SECRETS_SOURCE", "env")
        self.log("I", f"Secrets source: {source}")
        try:
            if source == "fs":
                self.account = self._read_secret(env.get("IBEAM_ACCOUNT", ""))
                self.password = self._read_secret(env.get("IBEAM_PASSWORD", ""))
            else:
                self.account = env.get("IBEAM_ACCOUNT", "")
                self.password = env.get("IBEAM_PASSWORD", "")
        except (OSError, UnicodeDecodeError) as exc:
            self.log("E", f"Unable to read secrets: {type(exc).__name__}")
            self.state = "shutdown"
            return None
        self.paper = env.get("IBEAM_USE_PAPER_ACCOUNT", "False").lower() == "true"
        self.two_fa_handler = env.get("IBEAM_TWO_FA_HANDLER") or None
        self.pyotp_secret = env.get("IBEAM_PYOTP_SECRET") or None
        try:
            self.max_failed_auth = int(env.get("IBEAM_MAX_FAILED_AUTH",
                                               DEFAULT_MAX_FAILED_AUTH))
        except ValueError:
            self.max_failed_auth = DEFAULT_MAX_FAILED_AUTH
        self.state = "running"
        self.deactivated = False
        self.failures = 0
        self.waiting_2fa = False
        self.session = _Session()
        self.log("I", f"Health server started at port {HEALTH_PORT}")
        self.log("I", "Gateway not running, starting the gateway.")
        self.next_login_at = self.now() + self.timing.login_seconds
        return None

    def resume_session(self) -> None:
        """The sandbox process restarted but this IBeam did not: log in at once."""
        if self.state == "running" and self.next_login_at is not None:
            self.next_login_at = self.now()
            self.advance()

    def _read_secret(self, path: str) -> str:
        if not path:
            raise FileNotFoundError("no path set")
        return read_secret_text(self._host_path(path).read_bytes())

    def stop(self, reason: str = "Stopping IBeam") -> None:
        if self.state == "running":
            self.log("I", reason)
        self.state = "stopped"
        self.session = _Session()
        self.next_login_at = None

    # ------------------------------------------------------------------ the login loop
    def advance(self) -> None:
        """Apply what has happened since the last look (lazy simulated time)."""
        if self.state != "running" or self.deactivated:
            return
        now = self.now()
        self._daily_reset(now)
        if self.next_login_at is not None and now >= self.next_login_at:
            self._attempt_login(now)

    def _last_reset(self, now: float) -> float:
        moment = datetime.fromtimestamp(now, UTC).replace(
            hour=self.timing.reset_hour_utc, minute=0, second=0, microsecond=0)
        if moment.timestamp() > now:
            moment -= timedelta(days=1)
        return moment.timestamp()

    def _daily_reset(self, now: float) -> None:
        session = self.session
        if session.authenticated and session.since is not None and \
                session.since < self._last_reset(now) <= now:
            reset_at = self._last_reset(now)
            self._lose_session("Session reset by IBKR (daily restart)")
            self.next_login_at = (reset_at + self.timing.maintenance_seconds
                                  + self.timing.login_seconds)

    def _lose_session(self, why: str) -> None:
        self.session = _Session(authenticated=False, connected=True, message="")
        self.log("W", f"{why}. Not authenticated, re-authenticating at the next maintenance.")

    def _attempt_login(self, now: float) -> None:
        self.next_login_at = None
        self.login_attempts += 1
        self.log("I", "Gateway session found but not authenticated, logging in..."
                 if self.session.connected else "No active sessions, logging in...")
        self.log("I", "Authentication process started")
        if self.faults.page_timeout:
            self.log("E", "Timeout reached when waiting for authentication. The website seems "
                          "to not be loaded correctly. Consider increasing "
                          "IBEAM_PAGE_LOAD_TIMEOUT.")
            self.next_login_at = now + self.timing.maintenance_seconds
            return
        user = self.users.find(self.account)
        if user is None or user.password != self.password:
            self.failures += 1
            self.session = _Session(connected=False)
            self.log("E", "Error displayed by the login webpage: Invalid username password "
                          "combination")
            if self.failures >= self.max_failed_auth:
                self.log("C", "######## ATTENTION! ######## Maximum number of failed "
                              f"authentication attempts (IBEAM_MAX_FAILED_AUTH="
                              f"{self.max_failed_auth}) reached. IBeam will shut down to "
                              "prevent an account lock-out.")
                self.state = "shutdown"
                return
            self.log("I", f"Authentication failed ({self.failures}/{self.max_failed_auth}); "
                          "retrying at the next maintenance.")
            self.next_login_at = now + self.timing.maintenance_seconds
            return
        needs_2fa = user.totp_secret is not None
        if needs_2fa:
            if self.two_fa_handler is None:
                self.waiting_2fa = True
                self.session = _Session(connected=False, message="2FA pending")
                self.log("I", "Credentials correct, but Gateway requires two-factor "
                              "authentication.")
                self.log("C", "######## ATTENTION! ######## No 2FA handler found. You may "
                              "define your own 2FA handler or use built-in handlers.")
                return
            if self.faults.two_fa_pending:
                self.waiting_2fa = True
                self.session = _Session(connected=False, message="2FA pending")
                self.log("W", "No 2FA code returned. Aborting authentication.")
                self.next_login_at = now + self.timing.maintenance_seconds
                return
            if self.two_fa_handler == "PYOTP" and self.pyotp_secret != user.totp_secret:
                self.failures += 1
                self.log("E", "Error displayed by the login webpage: Invalid security code")
                self.next_login_at = now + self.timing.maintenance_seconds
                return
        self.waiting_2fa = False
        self.failures = 0
        self.session = _Session(authenticated=True, connected=True, since=now)
        self.log("I", f"Gateway running and authenticated, session id: {self.session.token}")

    # ------------------------------------------------------------------ faults & state
    def set_faults(self, *, down: bool | None = None, two_fa_pending: bool | None = None,
                   competing: bool | None = None, session_reset: bool = False,
                   access_denied: bool | None = None, page_timeout: bool | None = None,
                   **unknown: Any) -> dict[str, Any]:
        if unknown:
            raise ValueError(f"unknown gateway faults: {sorted(unknown)}")
        self.advance()
        if down is not None:
            self.faults.down = down
            self.log("E" if down else "I", "Gateway process exited" if down
                     else "Gateway process started")
            if down:
                self.session = _Session()
            elif self.state == "running" and self.next_login_at is None and \
                    not self.session.authenticated:
                self.next_login_at = self.now() + self.timing.login_seconds
        if two_fa_pending is not None:
            self.faults.two_fa_pending = two_fa_pending
        if access_denied is not None:
            self.faults.access_denied = access_denied
        if page_timeout is not None:
            self.faults.page_timeout = page_timeout
        if competing is not None:
            self.faults.competing = competing
            if competing:
                self.log("I", "Competing Gateway session found, restarting and logging in...")
        if session_reset and self.session.authenticated:
            self._lose_session("Session timed out")
            self.next_login_at = self.now() + self.timing.login_seconds
        return self.describe()

    def describe(self) -> dict[str, Any]:
        self.advance()
        return {"state": self.state, "deactivated": self.deactivated,
                "authenticated": self.session.authenticated,
                "connected": self.session.connected, "competing": self.competing,
                "message": self.session.message, "failures": self.failures,
                "login_attempts": self.login_attempts, "waiting_2fa": self.waiting_2fa,
                "paper": self.paper, "two_fa_handler": self.two_fa_handler,
                "faults": {"down": self.faults.down,
                           "two_fa_pending": self.faults.two_fa_pending,
                           "competing": self.faults.competing,
                           "access_denied": self.faults.access_denied,
                           "page_timeout": self.faults.page_timeout}}

    @property
    def competing(self) -> bool:
        return self.faults.competing and self.session.authenticated

    def listening(self, port: int) -> bool:
        """Is anything accepting connections on the droplet's 127.0.0.1:port?"""
        self.advance()
        if self.state != "running":
            return False
        if port == HEALTH_PORT:
            return True
        if port == GATEWAY_PORT:
            return not (self.deactivated or self.faults.down)
        return False

    # ------------------------------------------------------------------ servers
    @property
    def health_server(self) -> web.Server:
        if self._health is None:
            self._health = web.Server(self._on_health)
        return self._health

    @property
    def gateway_server(self) -> web.Server:
        if self._gateway is None:
            self._gateway = web.Server(self._on_gateway)
        return self._gateway

    async def close(self) -> None:
        for server in (self._health, self._gateway):
            if server is not None:
                await server.shutdown(timeout=1)

    async def _on_health(self, request: web.BaseRequest) -> web.StreamResponse:
        self.advance()
        if request.method != "GET":
            return web.Response(status=501, text="Unsupported method")
        path = request.path
        if path == "/livez":
            if self.state != "running":
                return web.Response(status=500, text="Internal Error", content_type="text/html")
            return web.Response(text="OK", content_type="text/html")
        if path == "/readyz":
            if self.session.authenticated and not self.faults.down and not self.deactivated:
                return web.Response(text="OK", content_type="text/html")
            return web.Response(status=503, text="Not Ready", content_type="text/html")
        if path == "/activate":
            if self.deactivated:
                self.deactivated = False
                self.log("I", "Activated: starting the gateway and authenticating")
                self.next_login_at = self.now() + self.timing.login_seconds
            return web.Response(text="OK", content_type="text/html")
        if path == "/deactivate":
            self.deactivated = True
            self.session = _Session()
            self.next_login_at = None
            self.log("I", "Deactivated: logged out and stopped the gateway")
            return web.Response(text="OK", content_type="text/html")
        return web.Response(status=404, text="Not Found", content_type="text/html")

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
        if len(self._hits) >= self.timing.requests_per_second:
            return web.Response(status=429, text="Too Many Requests")
        self._hits.append(now)
        if self.faults.access_denied:  # the Client Portal's allow-list answer, as text
            return web.Response(status=403, text="Access Denied", content_type="text/html")
        path = request.path
        if path == "/v1/api/tickle" and request.method in ("POST", "GET"):
            if not self.session.authenticated and not self.session.connected:
                return web.json_response({"error": "no session"}, status=401)
            return web.json_response({
                "session": self.session.token,
                "ssoExpires": int(max(0.0, 86400 - (self.now() - (self.session.since or
                                                                  self.now()))) * 1000),
                "collission": False, "userId": 0,
                "iserver": {"authStatus": self._auth_status()}})
        if path == "/v1/api/iserver/auth/status" and request.method in ("POST", "GET"):
            return web.json_response(self._auth_status())
        return web.json_response({"error": f"{path} not found"}, status=404)


__all__ = ["IBKRUser", "IBeamTiming", "SimIBeam", "UserBook"]
