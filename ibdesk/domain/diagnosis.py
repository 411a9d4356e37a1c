"""What a diagnosis is made of, and how IBeam's log is read for known causes.

Pure rules, shared by `ibdesk doctor`, the support bundle and the window's Diagnose view.
The log patterns are IBeam's own messages (its `authenticate.py` and
`strategy_handler.py`), so that what support staff see on a real droplet is recognised
the same way as in the sandbox, which writes the same lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class CheckState(StrEnum):
    OK = "ok"
    WARNING = "warning"
    FAILED = "failed"
    SKIPPED = "skipped"
    """Not run, because an earlier check it needs failed."""


class FixAction(StrEnum):
    """Fixes ibdesk can apply by itself (a button in the Diagnose view)."""

    UPDATE_FIREWALL = "update_firewall"
    RESTART_IBEAM = "restart_ibeam"
    NEW_PASSWORD = "new_password"
    START_SERVER = "start_server"


class CheckResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    title: str
    state: CheckState
    evidence: str
    fix: str = ""
    """One sentence: what to do. Empty when nothing needs doing."""
    action: FixAction | None = None

    @property
    def failed(self) -> bool:
        return self.state is CheckState.FAILED


class LogCause(StrEnum):
    WRONG_PASSWORD = "wrong_password"
    MAX_FAILED_AUTH = "max_failed_auth"
    TWO_FA_NO_HANDLER = "two_fa_no_handler"
    TWO_FA_TIMEOUT = "two_fa_timeout"
    TWO_FA_WRONG_CODE = "two_fa_wrong_code"
    ACCESS_DENIED = "access_denied"
    PAGE_TIMEOUT = "page_timeout"
    SESSION_RESET = "session_reset"
    COMPETING = "competing"
    SECRETS_UNREADABLE = "secrets_unreadable"


TITLES = {
    LogCause.WRONG_PASSWORD: "Wrong IBKR password",
    LogCause.MAX_FAILED_AUTH: "Stopped after failed logins",
    LogCause.TWO_FA_NO_HANDLER: "No 2FA handler",
    LogCause.TWO_FA_TIMEOUT: "2FA not answered in time",
    LogCause.TWO_FA_WRONG_CODE: "2FA code refused",
    LogCause.ACCESS_DENIED: "Gateway IP allow list",
    LogCause.PAGE_TIMEOUT: "Login page timed out",
    LogCause.SESSION_RESET: "Session reset by IBKR",
    LogCause.COMPETING: "Competing session",
    LogCause.SECRETS_UNREADABLE: "Login files unreadable",
}


@dataclass(frozen=True)
class _Rule:
    cause: LogCause
    pattern: re.Pattern[str]
    state: CheckState
    meaning: str
    fix: str
    action: FixAction | None = None


def _rule(cause: LogCause, pattern: str, state: CheckState, meaning: str, fix: str,
          action: FixAction | None = None) -> _Rule:
    return _Rule(cause, re.compile(pattern, re.IGNORECASE), state, meaning, fix, action)


RULES: tuple[_Rule, ...] = (
    _rule(LogCause.MAX_FAILED_AUTH,
          r"maximum number of failed authentication attempts", CheckState.FAILED,
          "IBeam shut itself down after too many refused logins, to keep IBKR from locking "
          "the account.",
          "Log in once at interactivebrokers.com to check the password, then give ibdesk "
          "the right one (New password…).", FixAction.NEW_PASSWORD),
    _rule(LogCause.WRONG_PASSWORD,
          r"invalid username password combination", CheckState.FAILED,
          "IBKR refused the username or password.",
          "Enter the current IBKR password (New password…); ibdesk restarts IBeam with it.",
          FixAction.NEW_PASSWORD),
    _rule(LogCause.TWO_FA_NO_HANDLER,
          r"no 2fa handler found", CheckState.FAILED,
          "IBKR asks for a second factor, but this server has no way to answer it.",
          "Reconnect the account with a 2FA handler (for example PYOTP with the TOTP secret)."),
    _rule(LogCause.TWO_FA_TIMEOUT,
          r"no 2fa code returned|2fa code .* not received", CheckState.FAILED,
          "The second factor (code or phone approval) did not arrive in time.",
          "Approve the login on your phone when it asks, or check the 2FA handler's "
          "settings; IBeam tries again at its next maintenance.", FixAction.RESTART_IBEAM),
    _rule(LogCause.TWO_FA_WRONG_CODE,
          r"invalid security code", CheckState.FAILED,
          "IBKR refused the 2FA code: the TOTP secret is wrong, or the droplet's clock is off.",
          "Check the droplet's clock below, then reconnect with the right TOTP secret."),
    _rule(LogCause.ACCESS_DENIED,
          r"access denied", CheckState.FAILED,
          "The gateway's IP allow list refused a request (it answers \"Access Denied\").",
          "Restore IBeam's default allow list (10.*, 192.*, 172.*, 127.0.0.1) in the gateway's "
          "conf.yaml and restart IBeam; never open port 5000 to the internet instead.",
          FixAction.RESTART_IBEAM),
    _rule(LogCause.PAGE_TIMEOUT,
          r"timeout reached (when waiting for authentication|searching for website elements)",
          CheckState.WARNING,
          "IBKR's login page did not load in time (slow network or IBKR maintenance).",
          "Usually passes by itself; if it repeats, restart IBeam or choose a bigger size.",
          FixAction.RESTART_IBEAM),
    _rule(LogCause.SESSION_RESET,
          r"session found but not authenticated|session reset by ibkr", CheckState.WARNING,
          "IBKR ended the session (its daily reset around midnight New York time, or a "
          "timeout); IBeam logs in again by itself.",
          "Nothing to do unless it stays logged out for more than a few minutes."),
    _rule(LogCause.COMPETING,
          r"competing (gateway )?session", CheckState.WARNING,
          "Another login with the same username (TWS, the mobile app, the website) took over "
          "the session.",
          "Log out of the other place, or use a second IBKR username for this gateway."),
    _rule(LogCause.SECRETS_UNREADABLE,
          r"unable to read secrets", CheckState.FAILED,
          "IBeam could not read the username or password files on the server.",
          "Give ibdesk the password again (New password…); it rewrites both files.",
          FixAction.NEW_PASSWORD),
)


@dataclass(frozen=True)
class LogFinding:
    cause: LogCause
    state: CheckState
    meaning: str
    fix: str
    action: FixAction | None
    line: str
    """The last log line that showed it (the evidence)."""
    count: int

    @property
    def title(self) -> str:
        return TITLES[self.cause]


def recognise(log_text: str) -> list[LogFinding]:
    """The known causes found in IBeam's log, most serious first, each with the last
    line that showed it. Only lines after IBeam's last start count: an old wrong
    password that was since fixed is not a finding."""
    lines = log_text.splitlines()
    for index in range(len(lines) - 1, -1, -1):
        if "Starting IBeam" in lines[index]:
            lines = lines[index:]
            break
    found: dict[LogCause, LogFinding] = {}
    for line in lines:
        for rule in RULES:
            if rule.pattern.search(line):
                count = found[rule.cause].count + 1 if rule.cause in found else 1
                found[rule.cause] = LogFinding(rule.cause, rule.state, rule.meaning, rule.fix,
                                               rule.action, line.strip(), count)
                break
    if LogCause.MAX_FAILED_AUTH in found:  # the shutdown says it all
        found.pop(LogCause.WRONG_PASSWORD, None)
    order = {CheckState.FAILED: 0, CheckState.WARNING: 1}
    return sorted(found.values(), key=lambda f: (order.get(f.state, 2), RULES.index(
        next(r for r in RULES if r.cause is f.cause))))


def worst(results: list[CheckResult]) -> CheckState:
    states = {r.state for r in results}
    for state in (CheckState.FAILED, CheckState.WARNING):
        if state in states:
            return state
    return CheckState.OK


__all__ = [
    "RULES",
    "CheckResult",
    "CheckState",
    "FixAction",
    "LogCause",
    "LogFinding",
    "recognise",
    "worst",
]
