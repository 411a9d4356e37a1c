"""What a diagnosis is made of, and how IBeam's log is read for known causes.

Pure rules, shared by `ibdesk doctor`, the support bundle, the window's Diagnose view and
the failed-login guard. The patterns are IBeam 0.5.12's own messages, verbatim (read in
Voyz/ibeam at v0.5.12: `login_handler.py`, `strategy_handler.py`, `secrets_handler.py`,
`logs.py`, and checked against that code running in the sandbox): only lines IBeam
really writes. What is not a log line is not here: "Access Denied" is the gateway's HTTP
answer (the doctor's auth check reads it), and IBKR's daily reset shows as the default
strategy B's "Active session found but not authenticated". A refused 2FA code has no
words of its own that ibdesk knows (IBKR's wording is not documented): it is the login
page's error that follows "Submitting the 2FA form" in the same attempt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from ibdesk.domain.ibeam import MAX_REFUSED_CODES
from ibdesk.domain.models import IBeamVerdict


class CheckState(StrEnum):
    OK = "ok"
    WARNING = "warning"
    FAILED = "failed"
    SKIPPED = "skipped"
    """Not run, because an earlier check it needs failed."""


class Needs(StrEnum):
    """What a check needs before it can run; without it the check is skipped, saying why."""

    NOTHING = "nothing"
    TOKEN = "token"
    """A DigitalOcean token that DigitalOcean accepts."""
    ACCOUNT = "account"
    """An account (`ibdesk doctor ID`; Diagnose on a row)."""
    SSH = "ssh"
    """An SSH connection to the account's server (after the `ssh` check passed)."""


class Check(StrEnum):
    """Every check of the doctor, in the order they run."""

    KEYRING = "keyring"
    TOKEN = "token"
    TOKEN_WRITE = "token_write"
    DROPLET_LIMIT = "droplet_limit"
    IMAGE = "image"
    FIREWALL = "firewall"
    DROPLET = "droplet"
    SSH = "ssh"
    CLOCK = "clock"
    CONTAINER = "container"
    LIVEZ = "livez"
    READYZ = "readyz"
    AUTH = "auth"
    LOG = "log"

    @property
    def label(self) -> str:
        """Its title in every list of results."""
        return _CHECKS[self][0]

    @property
    def needs(self) -> Needs:
        return _CHECKS[self][1]

    @property
    def requires(self) -> Check | None:
        """The check that must pass before this one can run (None: it runs regardless)."""
        return _REQUIRES.get(self)

    def dependents(self) -> list[Check]:
        """Every check that cannot run when this one did not pass (directly or through
        another), in the order they run: what a failure of this one skips."""
        out: list[Check] = []
        for check in Check:
            step = check.requires
            while step is not None and step is not self:
                step = step.requires
            if step is self:
                out.append(check)
        return out

    @classmethod
    def needing(cls, need: Needs) -> list[Check]:
        return [check for check in cls if check.needs is need]

    @classmethod
    def run_for(cls, *, account: bool) -> list[Check]:
        """The checks a run makes: all of them for an account, else this computer's."""
        return [c for c in cls if account or c.needs in (Needs.NOTHING, Needs.TOKEN)]


_CHECKS = {
    Check.KEYRING: ("System keyring", Needs.NOTHING),
    Check.TOKEN: ("DigitalOcean token", Needs.NOTHING),
    Check.TOKEN_WRITE: ("Token can create servers", Needs.TOKEN),
    Check.DROPLET_LIMIT: ("Droplets left under the limit", Needs.TOKEN),
    Check.IMAGE: ("Image available in the region", Needs.ACCOUNT),
    Check.FIREWALL: ("Firewall admits this computer", Needs.TOKEN),
    Check.DROPLET: ("Droplet", Needs.ACCOUNT),
    Check.SSH: ("SSH and host key", Needs.ACCOUNT),
    Check.CLOCK: ("Server clock", Needs.SSH),
    Check.CONTAINER: ("IBeam container", Needs.SSH),
    Check.LIVEZ: ("IBeam alive (/livez)", Needs.SSH),
    Check.READYZ: ("IBeam ready (/readyz)", Needs.SSH),
    Check.AUTH: ("IBKR session (auth status)", Needs.SSH),
    Check.LOG: ("IBeam's log", Needs.SSH),
}


_REQUIRES = {
    Check.TOKEN_WRITE: Check.TOKEN, Check.DROPLET_LIMIT: Check.TOKEN, Check.IMAGE: Check.TOKEN,
    Check.FIREWALL: Check.TOKEN,
    Check.SSH: Check.DROPLET, Check.CLOCK: Check.SSH, Check.CONTAINER: Check.SSH,
    Check.LOG: Check.SSH,
    Check.LIVEZ: Check.CONTAINER, Check.READYZ: Check.CONTAINER, Check.AUTH: Check.CONTAINER,
}
"""What each check runs after. The droplet check runs without a token (it then fails,
saying so), so that an account's run always says what became of its server."""


class FixAction(StrEnum):
    """Fixes ibdesk can apply by itself (a button in the Diagnose view)."""

    UPDATE_FIREWALL = "update_firewall"
    RESTART_IBEAM = "restart_ibeam"
    NEW_PASSWORD = "new_password"
    START_SERVER = "start_server"

    @property
    def label(self) -> str:
        """The button's text in the Diagnose view."""
        return _FIX_TEXTS[self][0]

    @property
    def sentence(self) -> str:
        """What it does, as the command line asks about it ("…? [y/N]")."""
        return _FIX_TEXTS[self][1]

    @property
    def automatic(self) -> bool:
        """`ibdesk doctor --fix` may apply it unasked; a new password must be typed."""
        return self is not FixAction.NEW_PASSWORD


_FIX_TEXTS = {
    FixAction.UPDATE_FIREWALL: ("Update firewall", "Update the firewall to admit this computer"),
    FixAction.RESTART_IBEAM: ("Restart IBeam", "Restart IBeam on the server"),
    FixAction.NEW_PASSWORD: ("New password…", "Give the account a new IBKR password"),
    FixAction.START_SERVER: ("Start server", "Start the server"),
}


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
    TWO_FA_NO_CODE = "two_fa_no_code"
    TWO_FA_WRONG_CODE = "two_fa_wrong_code"
    TWO_FA_MISCONFIGURED = "two_fa_misconfigured"
    SECRETS_UNREADABLE = "secrets_unreadable"
    OUTPUTS_UNWRITABLE = "outputs_unwritable"
    PAGE_TIMEOUT = "page_timeout"
    SESSION_RESET = "session_reset"
    COMPETING = "competing"


TITLES = {
    LogCause.WRONG_PASSWORD: "IBKR refused the login",
    LogCause.MAX_FAILED_AUTH: "Stopped after refused logins",
    LogCause.TWO_FA_NO_HANDLER: "No 2FA handler",
    LogCause.TWO_FA_NO_CODE: "No 2FA code",
    LogCause.TWO_FA_WRONG_CODE: "2FA code refused",
    LogCause.TWO_FA_MISCONFIGURED: "2FA handler not set up",
    LogCause.SECRETS_UNREADABLE: "Login files unreadable",
    LogCause.OUTPUTS_UNWRITABLE: "Log folder not writable",
    LogCause.PAGE_TIMEOUT: "Login page timed out",
    LogCause.SESSION_RESET: "Session reset by IBKR",
    LogCause.COMPETING: "Competing session",
}

REFUSED_LOGIN = ("IBKR refused the username or password (IBKR sometimes does this "
                 "spuriously: log in once on its website to check).")
"""How ibdesk words a refused login, everywhere (ibeam#84: IBKR can answer `Invalid
username password combination` to a right password)."""
CHECK_PASSWORD_FIX = ("Log in once at interactivebrokers.com with this username; if the "
                      "password works there, give it to ibdesk again (New password…).")


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


ERROR_ON_PAGE = re.compile(r"Error displayed by the login webpage: (.*)$")
TWO_FA_SUBMITTED = "Submitting the 2FA form"
ATTEMPT_STARTS = ("Login attempt number", "Submitting the form")

RULES: tuple[_Rule, ...] = (
    _rule(LogCause.MAX_FAILED_AUTH,
          r"maximum number of failed authentication attempts", CheckState.FAILED,
          "IBeam shut itself down after IBKR refused the login too often, to keep IBKR from "
          "locking the username.", CHECK_PASSWORD_FIX, FixAction.NEW_PASSWORD),
    _rule(LogCause.WRONG_PASSWORD,
          r"login webpage: (invalid username password combination|failed)\s*$",
          CheckState.FAILED, REFUSED_LOGIN, CHECK_PASSWORD_FIX, FixAction.NEW_PASSWORD),
    _rule(LogCause.TWO_FA_NO_HANDLER,
          r"no 2fa handler found", CheckState.FAILED,
          "IBKR asked this login for a second factor and the server has no way to answer "
          "it, so IBeam shut down.",
          "Connect the account again with the PYOTP 2FA handler and its authenticator "
          "(TOTP) secret."),
    _rule(LogCause.TWO_FA_NO_CODE,
          r"no 2fa code returned", CheckState.FAILED,
          "The 2FA handler gave IBeam no code, so IBeam gave up this login; it tries again "
          "at its next maintenance.",
          "Check the 2FA handler's settings (for PYOTP: its authenticator secret)."),
    _rule(LogCause.TWO_FA_MISCONFIGURED,
          r"IBEAM_PYOTP_SECRET must be set|illegal 2fa code returned", CheckState.FAILED,
          "IBeam's 2FA handler cannot make codes: PYOTP has no secret, or the code is not "
          "six digits.",
          "Connect the account again with the authenticator (TOTP) secret."),
    _rule(LogCause.SECRETS_UNREADABLE,
          r"unable to read env value for IBEAM_|(account|password) cannot be none",
          CheckState.FAILED,
          "IBeam could not read the username or password files on the server (IBeam runs "
          "as uid 1000: the files must belong to it), so it shut down.",
          "Give ibdesk the password again (New password…): it rewrites both files for "
          "IBeam's user.", FixAction.NEW_PASSWORD),
    _rule(LogCause.OUTPUTS_UNWRITABLE,
          r"PermissionError: \[Errno 13\] Permission denied: '/srv/outputs", CheckState.FAILED,
          "IBeam cannot write its log into its outputs folder (IBeam runs as uid 1000), so "
          "it stopped before starting.",
          "This server was set up by an older ibdesk: delete the account and connect it "
          "again."),
    _rule(LogCause.PAGE_TIMEOUT,
          r"timeout reached (when waiting for authentication|searching for website elements)",
          CheckState.WARNING,
          "IBKR's login page did not load in time (slow network or IBKR maintenance).",
          "Usually passes by itself; if it repeats, restart IBeam or choose a bigger size.",
          FixAction.RESTART_IBEAM),
    _rule(LogCause.SESSION_RESET,
          r"active session found but not authenticated", CheckState.WARNING,
          "IBKR ended the session (its daily reset around midnight New York time, or a "
          "timeout); IBeam logs in again by itself.",
          "Nothing to do unless it stays logged out for more than a few minutes."),
    _rule(LogCause.COMPETING,
          r"competing or disconnected gateway session found|competing gateway session found"
          r"|authenticated but competing",
          CheckState.WARNING,
          "Another login with the same username (TWS, the mobile app, the website) took over "
          "the session.",
          "Log out of the other place, or use a second IBKR username for this gateway."),
)
_WRONG_CODE = _Rule(
    LogCause.TWO_FA_WRONG_CODE, ERROR_ON_PAGE, CheckState.FAILED,
    "IBKR refused the 2FA code the server made: the authenticator (TOTP) secret is wrong, "
    "or the server's clock is off.",
    "Check the server's clock below; if it is right, connect the account again with the "
    "right authenticator secret.")
_ORDER = (*RULES[:2], _WRONG_CODE, *RULES[2:])


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


def since_last_start(log_text: str) -> list[str]:
    """The log's lines from IBeam's last start on (all of them when no start is in
    view): an old wrong password that was since fixed is not a finding."""
    lines = log_text.splitlines()
    for index in range(len(lines) - 1, -1, -1):
        if "Starting IBeam" in lines[index]:
            return lines[index:]
    return lines


def _matches(lines: list[str]) -> list[tuple[_Rule, str]]:
    """(rule, line) for every line that shows a known cause, in order."""
    found = []
    after_two_fa = False
    for line in lines:
        if TWO_FA_SUBMITTED in line:
            after_two_fa = True
            continue
        if any(start in line for start in ATTEMPT_STARTS):
            after_two_fa = False
        if after_two_fa and ERROR_ON_PAGE.search(line):
            found.append((_WRONG_CODE, line))
            after_two_fa = False
            continue
        rule = next((r for r in RULES if r.pattern.search(line)), None)
        if rule is not None:
            found.append((rule, line))
    return found


def recognise(log_text: str) -> list[LogFinding]:
    """The known causes found in IBeam's log since its last start, most serious first,
    each with the last line that showed it and how often it was seen."""
    found: dict[LogCause, LogFinding] = {}
    for rule, line in _matches(since_last_start(log_text)):
        count = found[rule.cause].count + 1 if rule.cause in found else 1
        found[rule.cause] = LogFinding(rule.cause, rule.state, rule.meaning, rule.fix,
                                       rule.action, line.strip(), count)
    if LogCause.MAX_FAILED_AUTH in found:  # the shutdown says it all
        found.pop(LogCause.WRONG_PASSWORD, None)
    order = {CheckState.FAILED: 0, CheckState.WARNING: 1}
    rank = {rule.cause: index for index, rule in enumerate(_ORDER)}
    return sorted(found.values(), key=lambda f: (order.get(f.state, 2), rank[f.cause]))


_VERDICTS = {
    LogCause.MAX_FAILED_AUTH: IBeamVerdict.PASSWORD_REFUSED,
    LogCause.WRONG_PASSWORD: IBeamVerdict.PASSWORD_REFUSED,
    LogCause.TWO_FA_NO_HANDLER: IBeamVerdict.NO_TWO_FA_HANDLER,
    LogCause.SECRETS_UNREADABLE: IBeamVerdict.SECRETS_UNREADABLE,
    LogCause.OUTPUTS_UNWRITABLE: IBeamVerdict.OUTPUTS_UNWRITABLE,
    LogCause.TWO_FA_MISCONFIGURED: IBeamVerdict.TWO_FA_MISCONFIGURED,
}


def verdict(log_text: str) -> IBeamVerdict | None:
    """What, in IBeam's log since its last start, stops it for good: a refused login, the
    MAX_REFUSED_CODES-th refused 2FA code, or a shutdown whose cause is known. None while
    IBeam is merely still trying (a slow page, no code this time, a session reset)."""
    counts: dict[LogCause, int] = {}
    for rule, _ in _matches(since_last_start(log_text)):
        counts[rule.cause] = counts.get(rule.cause, 0) + 1
    for cause, value in _VERDICTS.items():
        if counts.get(cause):
            return value
    if counts.get(LogCause.TWO_FA_WRONG_CODE, 0) >= MAX_REFUSED_CODES:
        return IBeamVerdict.CODES_REFUSED
    return None


def refused_codes(log_text: str) -> int:
    """How many 2FA codes IBKR refused since IBeam's last start."""
    return sum(rule.cause is LogCause.TWO_FA_WRONG_CODE
               for rule, _ in _matches(since_last_start(log_text)))


def worst(results: list[CheckResult]) -> CheckState:
    states = {r.state for r in results}
    for state in (CheckState.FAILED, CheckState.WARNING):
        if state in states:
            return state
    return CheckState.OK


__all__ = [
    "CHECK_PASSWORD_FIX",
    "REFUSED_LOGIN",
    "RULES",
    "CheckResult",
    "CheckState",
    "FixAction",
    "LogCause",
    "LogFinding",
    "recognise",
    "refused_codes",
    "since_last_start",
    "verdict",
    "worst",
]
