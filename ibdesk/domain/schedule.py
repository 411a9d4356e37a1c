"""When an account's server should be up, and what that costs.

The fact that shapes this: DigitalOcean bills a powered-off droplet in full; only a
destroyed one stops costing (DESIGN.md, outside facts). So a trading-hours schedule has
two modes and the trader sees both prices before choosing:

- *power off* out of hours: the droplet is shut down and powered on again before the
  open (a minute or two); it saves nothing.
- *rebuild*: the droplet is destroyed after the close and created again before the open
  from the stock image, the login delivered again; it is billed only for the hours it
  exists, but coming back takes minutes (the lead time must cover it).

Trading days are the schedule's weekdays less the exchange's holidays, from the
`holidays` package's financial calendar (NYSE by default): no holiday table is written
here. IBKR's own daily session reset still happens inside the window; IBeam handles it.
Nothing here does I/O; every time is an aware datetime.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ScheduleKind(StrEnum):
    ALWAYS_ON = "always-on"
    TRADING_HOURS = "trading-hours"


class ScheduleMode(StrEnum):
    """What happens to the server out of hours."""

    POWER_OFF = "power-off"
    REBUILD = "rebuild"

    @property
    def label(self) -> str:
        return ("power off (quick to come back, billed in full)"
                if self is ScheduleMode.POWER_OFF else
                "rebuild (destroyed after hours, created again before the open)")


class Schedule(BaseModel):
    """An account's schedule; the default is always on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ScheduleKind = ScheduleKind.ALWAYS_ON
    days: tuple[Annotated[int, Field(ge=0, le=6)], ...] = (0, 1, 2, 3, 4)
    """Weekdays the market opens, Monday = 0."""
    opens: time = time(9, 30)
    closes: time = time(16, 0)
    tz: str = "America/New_York"
    """The exchange's time zone (US markets by default)."""
    lead_minutes: Annotated[int, Field(ge=0, le=600)] = 45
    """How long before the open the server is brought up (a rebuild takes minutes)."""
    mode: ScheduleMode = ScheduleMode.POWER_OFF
    calendar: str = "NYSE"
    """The `holidays` financial calendar whose holidays are skipped."""
    idle_after_minutes: Annotated[int, Field(ge=15)] | None = None
    """Stop (or destroy, by `mode`) a server whose tunnel carried nothing this long."""

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone (e.g. America/New_York)") from None
        return value

    @field_validator("days")
    @classmethod
    def _some_days(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value:
            raise ValueError("a trading-hours schedule needs at least one day")
        return tuple(sorted(set(value)))

    @model_validator(mode="after")
    def _range(self) -> Schedule:
        if self.kind is ScheduleKind.TRADING_HOURS and self.closes <= self.opens:
            raise ValueError("the close must be later than the open, on the same day")
        if self.calendar != "NYSE" and self.calendar not in known_calendars():
            raise ValueError(f"no holiday calendar {self.calendar!r}; known: "
                             + ", ".join(sorted(known_calendars())))
        return self

    @property
    def scheduled(self) -> bool:
        return self.kind is ScheduleKind.TRADING_HOURS

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    # ------------------------------------------------------------------ the windows
    def is_trading_day(self, day: date) -> bool:
        return day.weekday() in self.days and day not in exchange_holidays(
            self.calendar, day.year)

    def holiday(self, day: date) -> str | None:
        """The holiday's name when `day` is one of the calendar's."""
        return exchange_holidays(self.calendar, day.year).get(day)

    def window_on(self, day: date) -> Window | None:
        """The window of a local calendar day, None when the market is closed that day."""
        if not self.scheduled:
            return None
        if not self.is_trading_day(day):
            return None
        zone = self.zone
        opens = datetime.combine(day, self.opens, zone).astimezone(UTC)
        closes = datetime.combine(day, self.closes, zone).astimezone(UTC)
        return Window(day, opens - timedelta(minutes=self.lead_minutes), opens, closes)

    def windows(self, start: datetime, end: datetime) -> Iterator[Window]:
        """Every window that overlaps [start, end)."""
        zone = self.zone
        day = start.astimezone(zone).date() - timedelta(days=1)
        last = end.astimezone(zone).date() + timedelta(days=1)
        while day <= last:
            window = self.window_on(day)
            if window is not None and window.up < end and window.closes > start:
                yield window
            day += timedelta(days=1)

    def current(self, now: datetime) -> Window | None:
        """The window `now` is in (from its lead time to its close), if any."""
        if not self.scheduled:
            return None
        return next((w for w in self.windows(now - timedelta(days=1), now + timedelta(
            seconds=1)) if w.up <= now < w.closes), None)

    def next_window(self, now: datetime) -> Window | None:
        """The next window that has not begun (its lead time) at `now`."""
        if not self.scheduled:
            return None
        return next((w for w in self.windows(now, now + timedelta(days=21)) if w.up > now),
                    None)

    def wanted_up(self, now: datetime) -> bool:
        return not self.scheduled or self.current(now) is not None

    def up_hours(self, start: datetime, end: datetime) -> float:
        """Hours the schedule wants the server up within [start, end)."""
        if not self.scheduled:
            return (end - start).total_seconds() / 3600
        total = 0.0
        for w in self.windows(start, end):
            total += (min(w.closes, end) - max(w.up, start)).total_seconds() / 3600
        return total

    def describe(self) -> str:
        if not self.scheduled:
            text = "always on"
        else:
            text = (f"{days_text(self.days)} {self.opens:%H:%M}-{self.closes:%H:%M} {self.tz}, "
                    f"up {self.lead_minutes} min before the open, {self.calendar} holidays "
                    f"skipped; out of hours: {self.mode.value}")
        if self.idle_after_minutes:
            text += f"; idle after {duration_text(self.idle_after_minutes)}"
        return text


@dataclass(frozen=True)
class Window:
    """One trading day's time up: from `up` (open less the lead) to `closes` (UTC)."""

    day: date
    up: datetime
    opens: datetime
    closes: datetime


@lru_cache(maxsize=64)
def exchange_holidays(calendar: str, year: int) -> dict[date, str]:
    """The calendar's holidays of one year (the `holidays` package, loaded when asked)."""
    import holidays  # noqa: PLC0415 - 90 ms, only for a schedule that needs it

    return dict(holidays.financial_holidays(calendar, years=year).items())


def known_calendars() -> frozenset[str]:
    """The financial calendars the installed `holidays` package has (NYSE, XLON, …)."""
    import holidays  # noqa: PLC0415

    return frozenset(holidays.list_supported_financial())


# ---------------------------------------------------------------------- money
@dataclass(frozen=True)
class Price:
    """A size's prices as `/v2/sizes` gives them (USD)."""

    hourly: float
    monthly: float
    """What a droplet that exists all month costs: the cap of its hourly billing."""


HOURS_A_MONTH = 672
"""DigitalOcean caps a droplet's hourly billing at 672 hours a month (28 days): its
`price_monthly` equals `price_hourly × 672` for every size in `/v2/sizes`."""


@dataclass(frozen=True)
class MonthlyCost:
    """One month of an account under its schedule, in each mode (USD)."""

    always_on: float
    power_off: float
    rebuild: float
    up_hours: float
    """Hours the schedule wants the server up in that month."""
    servers: int
    """Droplets a rebuild schedule creates in that month (one per trading day)."""

    def of(self, schedule: Schedule) -> float:
        if not schedule.scheduled:
            return self.always_on
        return self.rebuild if schedule.mode is ScheduleMode.REBUILD else self.power_off


def month_bounds(when: datetime, zone: ZoneInfo | None = None) -> tuple[datetime, datetime]:
    """The calendar month `when` is in (UTC, as DigitalOcean bills), start and end."""
    when = when.astimezone(zone or UTC)
    start = when.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    return start.astimezone(UTC), end.astimezone(UTC)


def monthly_cost(schedule: Schedule, price: Price, when: datetime, *,
                 rebuild_minutes: float = 0.0) -> MonthlyCost:
    """The month of `when` under `schedule`, in both modes.

    Power off: a droplet that exists all month, billed in full (capped at the monthly
    price). Rebuild: one droplet per trading day, from its up time (the create and first
    boot happen in the lead time) to `rebuild_minutes` past the close (until the destroy
    lands), each billed by the started hour — the conservative reading of hourly billing —
    and the month capped at the monthly price."""
    start, end = month_bounds(when)
    month_hours = (end - start).total_seconds() / 3600
    always = min(price.monthly, price.hourly * month_hours)
    windows = list(schedule.windows(start, end)) if schedule.scheduled else []
    up = schedule.up_hours(start, end)
    rebuilt = sum(math.ceil((w.closes - w.up).total_seconds() / 3600 + rebuild_minutes / 60)
                  for w in windows)
    return MonthlyCost(always_on=round(always, 2), power_off=round(always, 2),
                       rebuild=round(min(price.monthly, rebuilt * price.hourly), 2),
                       up_hours=round(up, 2), servers=len(windows))


# ---------------------------------------------------------------------- what people type
_DURATION = re.compile(r"^\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m(?:in)?)?\s*$")


def parse_duration(text: str) -> int:
    """`45m`, `8h`, `1h30m`, `2d` → minutes."""
    match = _DURATION.match(text.lower())
    if not text.strip() or match is None or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration; write it like 45m, 8h or 1h30m")
    days, hours, minutes = (int(g or 0) for g in match.groups())
    return days * 1440 + hours * 60 + minutes


def duration_text(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    return (f"{hours}h{rest:02d}m" if hours and rest else f"{hours}h" if hours
            else f"{rest}m")


def parse_days(text: str) -> tuple[int, ...]:
    """`mon-fri`, `mon,wed,fri`, `sun-thu` → weekday numbers (Monday = 0)."""
    days: set[int] = set()
    for part in text.lower().replace(" ", "").split(","):
        ends = part.split("-")
        try:
            numbers = [DAY_NAMES.index(e[:3]) for e in ends if e]
        except ValueError:
            numbers = []
        if len(numbers) != len(ends) or not 1 <= len(numbers) <= 2:
            raise ValueError(f"{text!r} is not a set of days; write it like mon-fri or "
                             "mon,wed,fri")
        first, last = numbers[0], numbers[-1]
        day = first
        days.add(day)
        while day != last:
            day = (day + 1) % 7
            days.add(day)
    return tuple(sorted(days))


def days_text(days: tuple[int, ...]) -> str:
    if days == (0, 1, 2, 3, 4):
        return "mon-fri"
    return ",".join(DAY_NAMES[d] for d in days)


def parse_hours(text: str) -> tuple[time, time]:
    """`09:30-16:00` → (open, close)."""
    try:
        first, second = text.replace(" ", "").split("-")
        opens, closes = time.fromisoformat(first), time.fromisoformat(second)
    except ValueError:
        raise ValueError(f"{text!r} is not a time range; write it like 09:30-16:00") from None
    if closes <= opens:
        raise ValueError(f"{text!r}: the close must be later than the open, on the same day")
    return opens, closes


__all__ = ["DAY_NAMES", "HOURS_A_MONTH", "MonthlyCost", "Price", "Schedule", "ScheduleKind",
           "ScheduleMode", "Window", "days_text", "duration_text", "exchange_holidays",
           "month_bounds", "monthly_cost", "parse_days", "parse_duration", "parse_hours"]
