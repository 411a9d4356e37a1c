"""IBKR's side of a login, as the sandbox plays it: users, passwords, 2FA codes, sessions.

Both kinds of simulated droplet ask the same `IBKR`: the light simulated IBeam calls it
directly; a real IBeam's gateway (`cpgateway.py`, in the container's namespaces) asks it
over a unix socket (`IBKRService`), the way IBKR's Java gateway asks IBKR's servers. So
the answer to "is this password right, is this code right" never depends on which IBeam
asked.

What it knows of IBKR (DESIGN.md, "IBKR Client Portal gateway"): a wrong password gets
the page text `Invalid username password combination`; a paper user logging in in live
mode gets IBKR's "select the correct Login mode" text; a user with an authenticator asks
for a 6-digit TOTP code (RFC 6238, 30-second steps, one step of clock drift accepted);
only one brokerage session per username (a newer login makes the older one
`competing`). IBKR's wording for a refused code is not known to ibdesk; the sandbox
uses `WRONG_CODE_TEXT`, and ibdesk recognises a refused code by where the error appears
(right after IBeam submits the 2FA form), not by its words.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

WRONG_PASSWORD_TEXT = "Invalid username password combination"
PAPER_MODE_TEXT = ("You have selected the Live Account Mode, but the specified user is a Paper "
                   "Trading user. Please select the correct Login mode.")
WRONG_CODE_TEXT = "The security code you entered is not valid. Please try again."
"""The sandbox's wording; IBKR's own is not known (see the module docstring)."""


@dataclass(frozen=True)
class IBKRUser:
    username: str
    password: str
    totp_secret: str | None = None
    paper: bool | None = None
    """True: a paper-trading username (IBKR refuses it in live mode); None: either."""


class UserBook:
    """The sandbox's IBKR logins, from a JSON file: {"users": [{username, password,
    totp_secret?, paper?}]} (a file, so that passwords never sit on a command line)."""

    def __init__(self, users: list[IBKRUser]) -> None:
        self._users = {u.username: u for u in users}

    @classmethod
    def load(cls, path: Path) -> UserBook:
        data = json.loads(path.read_text(encoding="utf-8"))
        users = [IBKRUser(str(u["username"]), str(u["password"]),
                          u.get("totp_secret") or None, u.get("paper"))
                 for u in data["users"]]
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
                           user.totp_secret if totp_secret is None else totp_secret or None,
                           user.paper)
        self._users[username] = changed
        return changed

    @property
    def users(self) -> list[IBKRUser]:
        return list(self._users.values())


def totp(secret: str, at: float, step: int = 30, digits: int = 6) -> str:
    """RFC 6238 with SHA-1, as authenticator apps (and IBeam's pyotp) make codes."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    counter = struct.pack(">Q", int(at // step))
    digest = hmac.new(key, counter, hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10 ** digits).zfill(digits)


@dataclass
class LoginOutcome:
    result: str
    """`ok`, `2fa` (a code is needed; see `challenge`) or `error` (see `error`)."""
    error: str = ""
    challenge: str = ""


@dataclass
class _Challenge:
    gateway: str
    username: str
    paper: bool


@dataclass
class Session:
    """The brokerage session one gateway holds."""

    username: str
    paper: bool
    since: float
    id: str = field(default_factory=lambda: secrets.token_hex(8))
    authenticated: bool = True
    competing: bool = False

    def render(self) -> dict[str, Any]:
        digits = _user_digits(self.username)
        return {"id": self.id, "authenticated": self.authenticated,
                "connected": True, "competing": self.competing, "message": "",
                "MAC": "98:F2:B3:23:BF:A0",
                "serverInfo": {"serverName": "JifN19053",
                               "serverVersion": "Build 10.30.1a, Oct 14, 2025 4:22:11 PM"},
                "expires_ms": 86_400_000, "since_ms": int(self.since * 1000),
                "user_id": digits, "username": self.username, "paper": self.paper,
                "account": account_number(self.username, self.paper)}


def _user_digits(username: str) -> int:
    return int(hashlib.sha256(username.encode()).hexdigest()[:7], 16) % 10 ** 7


def account_number(username: str, paper: bool) -> str:
    """The IBKR account a username trades in (DU… for paper, U… for live), as the gateway
    lists it at /iserver/accounts: a program checks it to know which account it reached."""
    return f"{'DU' if paper else 'U'}{_user_digits(username):07d}"


class IBKR:
    def __init__(self, users: UserBook, now: Callable[[], float] = time.time) -> None:
        self.users = users
        self.now = now
        self.sessions: dict[str, Session] = {}
        self._challenges: dict[str, _Challenge] = {}
        self.codes_refused = 0
        self.passwords_refused = 0

    def login(self, gateway: str, username: str, password: str, *, paper: bool) -> LoginOutcome:
        user = self.users.find(username)
        if user is None or user.password != password:
            self.passwords_refused += 1
            return LoginOutcome("error", WRONG_PASSWORD_TEXT)
        if user.paper and not paper:
            return LoginOutcome("error", PAPER_MODE_TEXT)
        if user.totp_secret:
            challenge = secrets.token_hex(8)
            self._challenges[challenge] = _Challenge(gateway, username, paper)
            return LoginOutcome("2fa", challenge=challenge)
        self._open(gateway, username, paper)
        return LoginOutcome("ok")

    def second_factor(self, challenge: str, code: str) -> LoginOutcome:
        pending = self._challenges.get(challenge)
        user = self.users.find(pending.username) if pending else None
        if pending is None or user is None or not user.totp_secret:
            return LoginOutcome("error", "Your session has expired. Please log in again.")
        now = self.now()
        valid = {totp(user.totp_secret, now + drift) for drift in (-30, 0, 30)}
        if code.strip() not in valid:
            self.codes_refused += 1
            return LoginOutcome("error", WRONG_CODE_TEXT)
        del self._challenges[challenge]
        self._open(pending.gateway, pending.username, pending.paper)
        return LoginOutcome("ok")

    def _open(self, gateway: str, username: str, paper: bool) -> None:
        for other, session in self.sessions.items():
            if other != gateway and session.username == username:
                session.competing = True  # only one brokerage session per username
        self.sessions[gateway] = Session(username, paper, self.now())

    def session(self, gateway: str) -> Session | None:
        return self.sessions.get(gateway)

    def logout(self, gateway: str) -> None:
        self.sessions.pop(gateway, None)

    def reauthenticate(self, gateway: str) -> None:
        session = self.sessions.get(gateway)
        if session is not None:
            session.authenticated = True
            session.competing = False


class IBKRService:
    """IBKR behind a unix socket, for the gateways of real IBeams (`cpgateway.py`)."""

    def __init__(self, ibkr: IBKR, path: Path) -> None:
        self.ibkr = ibkr
        self.path = path
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/login", self._login)
        app.router.add_post("/session", self._session)
        app.router.add_post("/logout", self._logout)
        app.router.add_post("/reauthenticate", self._reauthenticate)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.UnixSite(self._runner, str(self.path)).start()
        os.chmod(self.path, 0o666)  # the gateway runs as the container's user

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        data = await request.json()
        return data if isinstance(data, dict) else {}

    async def _login(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        gateway = str(body.get("gateway"))
        if "challenge" in body:
            outcome = self.ibkr.second_factor(str(body["challenge"]), str(body.get("code", "")))
        else:
            outcome = self.ibkr.login(gateway, str(body.get("username", "")),
                                      str(body.get("password", "")),
                                      paper=bool(body.get("paper")))
        return web.json_response({"result": outcome.result, "error": outcome.error,
                                  "challenge": outcome.challenge})

    async def _session(self, request: web.Request) -> web.Response:
        session = self.ibkr.session(str((await self._body(request)).get("gateway")))
        return web.json_response({"session": session.render() if session else None})

    async def _logout(self, request: web.Request) -> web.Response:
        self.ibkr.logout(str((await self._body(request)).get("gateway")))
        return web.json_response({"status": True})

    async def _reauthenticate(self, request: web.Request) -> web.Response:
        self.ibkr.reauthenticate(str((await self._body(request)).get("gateway")))
        return web.json_response({"message": "triggered"})


__all__ = ["IBKR", "IBKRService", "IBKRUser", "LoginOutcome", "PAPER_MODE_TEXT", "Session",
           "UserBook", "WRONG_CODE_TEXT", "WRONG_PASSWORD_TEXT", "totp"]
