"""The report's figures against the same history counted another way: minute by minute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from ibdesk.domain.enums import ServerStatus
from ibdesk.domain.models import StatusEvent
from ibdesk.domain.report import REFUSALS, uptime
from ibdesk.domain.schedule import Schedule, ScheduleKind

START = datetime(2026, 12, 21, 0, 0, tzinfo=UTC)  # a Monday
END = START + timedelta(days=5)
SCHEDULES = [Schedule(), Schedule(kind=ScheduleKind.TRADING_HOURS)]


def by_minute(schedule: Schedule, before: StatusEvent | None, events: list[StatusEvent]
              ) -> tuple[int, int, int]:
    """(scheduled minutes, running minutes, outages): each minute looked at on its own."""
    scheduled = running = outages = 0
    in_outage = False
    minute = START
    if before is None:  # a new account counts from its first run
        minute = next((e.at for e in events if e.status is ServerStatus.RUNNING), END)
    while minute < END:
        if schedule.scheduled:
            window = schedule.window_on(minute.astimezone(schedule.zone).date())
            wanted = window is not None and window.opens <= minute < window.closes
        else:
            wanted = True
        status = before.status if before else ServerStatus.PROVISIONING
        for event in events:
            if event.at <= minute:
                status = event.status
        if wanted:
            scheduled += 1
            if status is ServerStatus.RUNNING:
                running += 1
                in_outage = False
            else:
                if not in_outage:
                    outages += 1
                in_outage = True
        else:
            in_outage = False
        minute += timedelta(minutes=1)
    return scheduled, running, outages


statuses = st.sampled_from(list(ServerStatus))
histories = st.lists(st.tuples(st.integers(0, 5 * 24 * 60 - 1), statuses), max_size=25)


def events_of(raw: list[tuple[int, ServerStatus]]) -> list[StatusEvent]:
    out: list[StatusEvent] = []
    previous = None
    for minute, status in sorted(raw):
        if status is previous:
            continue
        out.append(StatusEvent(account_id="ib-demo-00000000",
                               at=START + timedelta(minutes=minute), status=status,
                               previous=previous, reason=f"{status.value} at {minute}"))
        previous = status
    return out


@settings(max_examples=60, deadline=None)
@given(raw=histories, schedule=st.sampled_from(SCHEDULES), start_running=st.booleans())
def test_uptime_matches_a_minute_by_minute_count(raw: list[tuple[int, ServerStatus]],
                                                 schedule: Schedule,
                                                 start_running: bool) -> None:
    before = StatusEvent(account_id="ib-demo-00000000", at=START - timedelta(days=1),
                         status=ServerStatus.RUNNING, previous=None,
                         reason="up") if start_running else None
    events = events_of(raw)
    figures = uptime(schedule, before, events, START, END)
    scheduled, running, outages = by_minute(schedule, before, events)
    assert figures.scheduled_seconds == scheduled * 60
    assert figures.running_seconds == running * 60
    assert len(figures.outages) == outages
    assert sum(o.seconds for o in figures.outages) == (scheduled - running) * 60


def test_an_outage_has_its_start_length_and_first_reason() -> None:
    before = StatusEvent(account_id="ib-demo-00000000", at=START, status=ServerStatus.RUNNING,
                         previous=None, reason="up")
    events = [
        StatusEvent(account_id="ib-demo-00000000", at=START + timedelta(hours=2),
                    status=ServerStatus.ERROR, previous=ServerStatus.RUNNING,
                    reason=REFUSALS[0]),
        StatusEvent(account_id="ib-demo-00000000", at=START + timedelta(hours=3),
                    status=ServerStatus.INITIALIZING, previous=ServerStatus.ERROR,
                    reason="A new password; IBeam logging in."),
        StatusEvent(account_id="ib-demo-00000000", at=START + timedelta(hours=3, minutes=5),
                    status=ServerStatus.RUNNING, previous=ServerStatus.INITIALIZING,
                    reason="Logged in."),
    ]
    figures = uptime(Schedule(), before, events, START, START + timedelta(hours=10))
    (outage,) = figures.outages
    assert outage.start == START + timedelta(hours=2) and outage.seconds == 65 * 60
    assert outage.reason == REFUSALS[0] and outage.status is ServerStatus.ERROR
    assert figures.logins_refused == 1
    assert figures.ratio == (600 - 65) / 600


def test_a_new_account_counts_from_its_first_run() -> None:
    events = [StatusEvent(account_id="ib-demo-00000000", at=START, status=ServerStatus.PROVISIONING,
                          previous=None, reason="Connect started."),
              StatusEvent(account_id="ib-demo-00000000", at=START + timedelta(hours=1),
                          status=ServerStatus.RUNNING, previous=ServerStatus.PROVISIONING,
                          reason="up")]
    figures = uptime(Schedule(), None, events, START, START + timedelta(hours=2))
    assert figures.ratio == 1.0 and figures.outages == []
    assert figures.scheduled_seconds == 3600
    never = uptime(Schedule(), None, events[:1], START, START + timedelta(hours=2))
    assert never.ratio is None and never.scheduled_seconds == 0
