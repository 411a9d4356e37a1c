"""Outgoing alerts: which incidents a trader is told about, once each, and when they end.

An incident starts when an account (or ibdesk itself) enters a state a trader must act
on, and ends when it leaves it. `Incidents` turns the stream of what the monitor sees
into alerts: one when an incident starts, one recovery when it clears, nothing while it
lasts (the monitor looks every 30-60 s; a message each time would be noise that gets
muted). The wording is the trader's: the account's id and environment, never the IBKR
username or anything secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum

from ibdesk.domain.enums import IBeamVerdict, ServerStatus
from ibdesk.domain.status import DELETED_OUTSIDE


class AlertKind(StrEnum):
    """What an alert is about (issue 17's list of events)."""

    LOGIN_REFUSED = "login_refused"
    CODES_REFUSED = "codes_refused"
    GATEWAY_DOWN = "gateway_down"
    MONITORING_DEGRADED = "monitoring_degraded"
    SCHEDULE_FAILED = "schedule_failed"
    BUDGET_EXCEEDED = "budget_exceeded"
    DELETED_OUTSIDE = "deleted_outside"
    TEST = "test"

    @property
    def headline(self) -> str:
        return _HEADLINES[self]


_HEADLINES = {
    AlertKind.LOGIN_REFUSED: "IBKR refused the login",
    AlertKind.CODES_REFUSED: "IBKR refused the 2FA codes",
    AlertKind.GATEWAY_DOWN: "Gateway down",
    AlertKind.MONITORING_DEGRADED: "Monitoring degraded",
    AlertKind.SCHEDULE_FAILED: "A scheduled start or rebuild failed",
    AlertKind.BUDGET_EXCEEDED: "Monthly budget exceeded",
    AlertKind.DELETED_OUTSIDE: "Server deleted outside ibdesk",
    AlertKind.TEST: "Test alert",
}


@dataclass(frozen=True)
class Alert:
    kind: AlertKind
    subject: str
    """Whom it is about: an account id (`ib-live-1a2b3c4d`) or "ibdesk"."""
    detail: str
    """What was seen, and what to do (the status's reason and fix)."""
    recovered: bool = False

    @property
    def title(self) -> str:
        if self.recovered:
            return f"ibdesk: {self.subject} recovered ({self.kind.headline.lower()} ended)"
        return f"ibdesk: {self.subject}: {self.kind.headline}"


ACCOUNT_KINDS = (AlertKind.LOGIN_REFUSED, AlertKind.CODES_REFUSED, AlertKind.GATEWAY_DOWN,
                 AlertKind.DELETED_OUTSIDE)
"""The incidents read from an account's status: exactly one of them is active at a time
(or none)."""


def account_incident(status: ServerStatus, refused: IBeamVerdict | None,
                     reason: str = "") -> AlertKind | None:
    """The incident an account's status is in, if any. A refused login is its own kind
    (the trader must enter a new password; ibdesk will not retry), so is refused 2FA;
    any other error is the gateway being down past its grace period (the monitor only
    says `error` after that grace)."""
    if refused is IBeamVerdict.PASSWORD_REFUSED:
        return AlertKind.LOGIN_REFUSED
    if refused is IBeamVerdict.CODES_REFUSED:
        return AlertKind.CODES_REFUSED
    if status is ServerStatus.ERROR and reason.startswith(DELETED_OUTSIDE):
        return AlertKind.DELETED_OUTSIDE
    if status is ServerStatus.ERROR:
        return AlertKind.GATEWAY_DOWN
    return None


_ON_ITS_WAY = (ServerStatus.PROVISIONING, ServerStatus.INITIALIZING)


@dataclass
class Incidents:
    """The open incidents, by subject: feed it what is seen, it answers the alerts due."""

    open: dict[str, tuple[AlertKind, str]] = field(default_factory=dict)
    """Subject → its open incident and the detail it was raised with."""

    def account_seen(self, account_id: str, status: ServerStatus,
                     refused: IBeamVerdict | None, detail: str, reason: str = ""
                     ) -> list[Alert]:
        """An account's status as the monitor saw it now. On its way back (starting,
        logging in) an open incident stays open: it ends when the gateway runs again
        (or the server is stopped on purpose)."""
        if status in _ON_ITS_WAY and account_id in self.open:
            return []
        return self._seen(account_id, account_incident(status, refused, reason), detail)

    def monitoring_seen(self, why: str | None) -> list[Alert]:
        """The monitor's own state: `why` it cannot reach DigitalOcean, or None."""
        return self._seen("ibdesk", AlertKind.MONITORING_DEGRADED if why else None,
                          why or "The monitor reaches DigitalOcean again.")

    def _seen(self, subject: str, kind: AlertKind | None, detail: str) -> list[Alert]:
        was = self.open.get(subject)
        if (was[0] if was else None) is kind:
            return []  # the same incident goes on (or none): said once already
        if kind is None:  # it cleared
            assert was is not None
            del self.open[subject]
            return [Alert(was[0], subject, detail, recovered=True)]
        # a new incident, or another kind of one (a gateway down that turns out to be a
        # refused login): the new one is what the trader must act on
        self.open[subject] = (kind, detail)
        return [Alert(kind, subject, detail)]


@dataclass(frozen=True)
class QuietHours:
    """Local hours in which outgoing alerts wait (`22:00-07:00` crosses midnight)."""

    starts: time
    ends: time

    @classmethod
    def parse(cls, text: str | None) -> QuietHours | None:
        if not text:
            return None
        first, second = text.split("-")
        return cls(time.fromisoformat(first), time.fromisoformat(second))

    def quiet(self, local: datetime) -> bool:
        now = local.time()
        if self.starts < self.ends:
            return self.starts <= now < self.ends
        return now >= self.starts or now < self.ends

    def seconds_left(self, local: datetime) -> float:
        """Until the quiet hours end (0 when they are not on)."""
        if not self.quiet(local):
            return 0.0
        end = local.replace(hour=self.ends.hour, minute=self.ends.minute, second=0,
                            microsecond=0)
        if end <= local:
            end += timedelta(days=1)
        return (end - local).total_seconds()


@dataclass
class Held:
    """Alerts kept through quiet hours: a recovery that comes before they end cancels its
    alert (nothing is left to say), anything else is sent when they end, in order."""

    alerts: list[Alert] = field(default_factory=list)

    def hold(self, alert: Alert) -> None:
        if alert.recovered:
            for held in self.alerts:
                if held.subject == alert.subject and held.kind is alert.kind and \
                        not held.recovered:
                    self.alerts.remove(held)
                    return
        self.alerts.append(alert)

    def release(self) -> list[Alert]:
        out, self.alerts = self.alerts, []
        return out


__all__ = ["ACCOUNT_KINDS", "Alert", "AlertKind", "Held", "Incidents", "QuietHours",
           "account_incident"]
