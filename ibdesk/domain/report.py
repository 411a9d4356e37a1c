"""Uptime, outages and refusals of one account over a period, from its status history.

Uptime is time running over time scheduled: the schedule's trading hours from the open
to the close (the lead time before the open is the server coming up, not an outage), or
the whole period for an always-on account, from the first time its gateway ran (setting
a new account up is not an outage). An outage is
a stretch of scheduled time the gateway was not running; its reason is the history line
that began it. Nothing here does I/O; tests/domain/test_report.py computes the same
figures another way (minute by minute) and compares.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ibdesk.domain.enums import IBeamVerdict, ServerStatus
from ibdesk.domain.models import StatusEvent
from ibdesk.domain.schedule import Schedule
from ibdesk.domain.status import VERDICTS

NOTHING_YET = "No status recorded yet."

REFUSALS = (VERDICTS[IBeamVerdict.PASSWORD_REFUSED][0], VERDICTS[IBeamVerdict.CODES_REFUSED][0])
"""How the history words a refused login or refused 2FA codes."""


@dataclass(frozen=True)
class Outage:
    start: datetime
    end: datetime
    status: ServerStatus
    reason: str
    ongoing: bool = False

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class Uptime:
    scheduled_seconds: float
    running_seconds: float
    outages: list[Outage] = field(default_factory=list)
    logins_refused: int = 0
    timeline: list[tuple[datetime, ServerStatus]] = field(default_factory=list)
    """The status at the period's start and at each change: the chart's steps."""

    @property
    def ratio(self) -> float | None:
        """Running over scheduled (None when nothing was scheduled)."""
        if self.scheduled_seconds <= 0:
            return None
        return self.running_seconds / self.scheduled_seconds


def scheduled_spans(schedule: Schedule, start: datetime, end: datetime
                    ) -> Iterator[tuple[datetime, datetime]]:
    """The stretches of [start, end) the gateway is meant to run (open to close)."""
    if not schedule.scheduled:
        if end > start:
            yield start, end
        return
    for window in schedule.windows(start, end):
        since, until = max(window.opens, start), min(window.closes, end)
        if until > since:
            yield since, until


def status_segments(before: StatusEvent | None, events: list[StatusEvent], start: datetime,
                    end: datetime) -> list[tuple[datetime, datetime, ServerStatus, str]]:
    """[from, to, status, reason] covering [start, end): the status `before` left (or the
    first event's, from it on), then each change."""
    segments: list[tuple[datetime, datetime, ServerStatus, str]] = []
    current = (start, before.status, before.reason) if before else \
        (start, ServerStatus.PROVISIONING, NOTHING_YET)
    for event in events:
        if event.at >= end:
            break
        if event.status is current[1] and event.at > start:
            continue  # a note, or the same status said again
        at = max(event.at, start)
        if at > current[0]:
            segments.append((current[0], at, current[1], current[2]))
        current = (at, event.status, event.reason)
    if end > current[0]:
        segments.append((current[0], end, current[1], current[2]))
    return segments


def uptime(schedule: Schedule, before: StatusEvent | None, events: list[StatusEvent],
           start: datetime, end: datetime, *, created_at: datetime | None = None) -> Uptime:
    if created_at is not None and created_at > start:
        start = created_at
    charted = status_segments(before, events, start, end)  # the chart shows it all
    if before is None:
        # a new account: its setting up is not an outage; uptime counts from the first
        # time its gateway ran (none yet: nothing was scheduled)
        first = next((e.at for e in events if e.status is ServerStatus.RUNNING and
                      start <= e.at < end), None)
        start = first if first is not None else end
    segments = status_segments(before, events, start, end)
    spans = list(scheduled_spans(schedule, start, end))
    scheduled = sum((b - a).total_seconds() for a, b in spans)
    running = 0.0
    outages: list[Outage] = []
    for since, until in spans:
        open_outage: Outage | None = None
        for seg_from, seg_to, status, reason in segments:
            a, b = max(seg_from, since), min(seg_to, until)
            if b <= a:
                continue
            if status is ServerStatus.RUNNING:
                running += (b - a).total_seconds()
                if open_outage is not None:
                    outages.append(open_outage)
                    open_outage = None
                continue
            if open_outage is not None and open_outage.end == a:
                open_outage = Outage(open_outage.start, b, open_outage.status,
                                     open_outage.reason)
            else:
                if open_outage is not None:
                    outages.append(open_outage)
                open_outage = Outage(a, b, status, reason)
        if open_outage is not None:
            outages.append(open_outage)
    if outages and outages[-1].end >= end:
        last = outages[-1]
        outages[-1] = Outage(last.start, last.end, last.status, last.reason, ongoing=True)
    refused = sum(1 for e in events if start <= e.at < end and e.status is ServerStatus.ERROR
                  and e.reason.startswith(REFUSALS))
    timeline = [(a, status) for a, _, status, _ in charted]
    return Uptime(scheduled, running, outages, refused, timeline)


def period(days: float, now: datetime) -> tuple[datetime, datetime]:
    return now - timedelta(days=days), now


__all__ = ["REFUSALS", "Outage", "Uptime", "period", "scheduled_spans", "status_segments",
           "uptime"]
