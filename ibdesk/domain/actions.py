"""What a person can do to an account's server, and when: one closed set for the window's
buttons, its row menu, the tray and the command line.

Each action carries its button text (mnemonics unique across the window: Alt+T was once
both Stop and Open tunnel, Alt+D both Delete and Diagnose this computer; the toolbar has
C, F, I, S, A and Q), the line shown while it runs, the tooltip that says when it applies,
and what must be asked first. `allowed_actions` is the rule for when; it reads the
account only, so the window, the tray and tests share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from ibdesk.domain.enums import ServerStatus

if TYPE_CHECKING:  # pydantic's models are not needed to name an action
    from ibdesk.domain.models import Account


class Ask(StrEnum):
    """What an action needs from the person before it runs."""

    NOTHING = "nothing"
    CONFIRMATION = "confirmation"
    """A yes/no question naming the server (a live account's delete: its id typed)."""
    PASSWORD = "password"
    """The new IBKR password (never stored before it is delivered)."""


@dataclass(frozen=True)
class _Facts:
    label: str
    busy: str | None
    when: str
    ask: Ask = Ask.NOTHING
    only_when_allowed: bool = False


class ServerAction(StrEnum):
    """The actions on one account, in the order the window shows them."""

    START = "start"
    STOP = "stop"
    RESTART = "restart"
    TUNNEL = "tunnel"
    DIAGNOSE = "diagnose"
    DELETE = "delete"
    LOGS = "logs"
    PASSWORD = "password"
    RESUME = "resume"

    @property
    def label(self) -> str:
        """The button's text, with its mnemonic (`&`)."""
        return _FACTS[self].label

    @property
    def busy_label(self) -> str | None:
        """What the progress bar says while it runs (None: it shows no progress)."""
        return _FACTS[self].busy

    @property
    def when(self) -> str:
        """The tooltip: what it does and when it applies (a disabled button says why)."""
        return _FACTS[self].when

    @property
    def ask(self) -> Ask:
        return _FACTS[self].ask

    @property
    def only_when_allowed(self) -> bool:
        """Hidden, not just disabled, when it does not apply (rare remedies)."""
        return _FACTS[self].only_when_allowed

    @classmethod
    def parse(cls, value: str | None) -> ServerAction | None:
        """The action named `value`, or None for anything else (a connect, nothing)."""
        try:
            return cls(value) if value is not None else None
        except ValueError:
            return None


_FACTS = {
    ServerAction.START: _Facts("Sta&rt", "Starting…", "Starts the server. Only for a stopped "
                               "server."),
    ServerAction.STOP: _Facts(
        "St&op", "Stopping…", "Shuts the server down (DigitalOcean still bills a stopped "
        "server). Not while it is being set up or is already stopped.", Ask.CONFIRMATION),
    ServerAction.RESTART: _Facts(
        "R&estart", "Restarting…", "Reboots the server; IBeam logs in again. Not while it is "
        "being set up or is stopped.", Ask.CONFIRMATION),
    ServerAction.TUNNEL: _Facts(
        "Open &tunnel", None, "Opens the gateway on this computer for your programs. Only "
        "while the gateway is running."),
    ServerAction.DIAGNOSE: _Facts(
        "Dia&gnose…", None, "Runs every check on this server and offers the fixes ibdesk "
        "can make."),
    ServerAction.DELETE: _Facts(
        "&Delete…", "Deleting…", "Destroys the server for good; billing stops.",
        Ask.CONFIRMATION),
    ServerAction.LOGS: _Facts(
        "IBeam &log…", None, "Shows IBeam's output on the server (what it did, and what IBKR "
        "said). Once the server exists."),
    ServerAction.PASSWORD: _Facts(
        "New &password…", None, "Delivers a new IBKR password. Only after IBKR refused the "
        "stored one.", Ask.PASSWORD, only_when_allowed=True),
    ServerAction.RESUME: _Facts(
        "Res&ume setup", "Setting up…", "Carries the unfinished setup of this server on "
        "from where it stopped.", only_when_allowed=True),
}


def allowed_actions(account: Account, *, busy: bool,
                    resumable: bool = False) -> frozenset[ServerAction]:
    """Which actions apply to the account in its current status (`busy`: one is under way;
    `resumable`: it has an unfinished connect that Resume carries on)."""
    if busy:
        return frozenset()
    allowed = {ServerAction.DELETE, ServerAction.DIAGNOSE}
    if resumable and account.login_refused is None:
        allowed.add(ServerAction.RESUME)
    if account.do_droplet_id is None:
        if account.parked is not None and account.login_refused is None:
            allowed.add(ServerAction.START)  # destroyed out of hours: Start creates it again
        return frozenset(allowed)
    status = account.do_server_status
    allowed.add(ServerAction.LOGS)
    if status is ServerStatus.STOPPED:
        allowed.add(ServerAction.START)
    if account.login_refused is not None:
        allowed.add(ServerAction.PASSWORD)
    if status in (ServerStatus.RUNNING, ServerStatus.INITIALIZING, ServerStatus.ERROR):
        allowed |= {ServerAction.STOP, ServerAction.RESTART}
    if status is ServerStatus.RUNNING:
        allowed.add(ServerAction.TUNNEL)
    return frozenset(allowed)


__all__ = ["Ask", "ServerAction", "allowed_actions"]
