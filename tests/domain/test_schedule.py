"""Schedules: trading days, windows across time-zone changes, costs, what people type."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from ibdesk.domain.schedule import (
    Price,
    Schedule,
    ScheduleKind,
    ScheduleMode,
    monthly_cost,
    parse_days,
    parse_duration,
    parse_hours,
)

NY = ZoneInfo("America/New_York")
TRADING = Schedule(kind=ScheduleKind.TRADING_HOURS)
S_1VCPU_1GB = Price(hourly=0.00893, monthly=6.0)  # reference/digitalocean-observed/sizes.json


def test_always_on_is_the_default_and_always_up() -> None:
    schedule = Schedule()
    assert not schedule.scheduled and schedule.wanted_up(datetime(2026, 12, 25, tzinfo=UTC))
    assert schedule.describe() == "always on"


def test_nyse_holidays_come_from_the_calendar_library() -> None:
    assert not TRADING.is_trading_day(date(2026, 12, 25))  # Christmas
    assert TRADING.holiday(date(2026, 11, 26)) == "Thanksgiving Day"
    assert not TRADING.is_trading_day(date(2026, 7, 3))  # Independence Day observed
    assert TRADING.is_trading_day(date(2026, 12, 24))
    assert not TRADING.is_trading_day(date(2026, 12, 26))  # a Saturday


def test_the_window_follows_new_york_time_across_daylight_saving() -> None:
    winter = TRADING.window_on(date(2027, 3, 5))  # EST, UTC-5
    summer = TRADING.window_on(date(2027, 3, 15))  # EDT, UTC-4 since 14 March
    assert winter is not None and summer is not None
    assert winter.opens == datetime(2027, 3, 5, 14, 30, tzinfo=UTC)
    assert summer.opens == datetime(2027, 3, 15, 13, 30, tzinfo=UTC)
    assert summer.up == summer.opens - timedelta(minutes=45)  # the lead time
    assert summer.closes == datetime(2027, 3, 15, 20, 0, tzinfo=UTC)


def test_wanted_up_inside_the_window_and_its_lead_only() -> None:
    monday = datetime(2026, 12, 21, tzinfo=NY)
    assert not TRADING.wanted_up(monday.replace(hour=8, minute=44))
    assert TRADING.wanted_up(monday.replace(hour=8, minute=45))
    assert TRADING.wanted_up(monday.replace(hour=15, minute=59))
    assert not TRADING.wanted_up(monday.replace(hour=16))
    nxt = TRADING.next_window(datetime(2026, 12, 24, 17, 0, tzinfo=NY))
    assert nxt is not None and nxt.day == date(2026, 12, 28)  # over Christmas and a weekend


def test_monthly_cost_in_both_modes_computed_by_hand() -> None:
    rebuild = Schedule(kind=ScheduleKind.TRADING_HOURS, mode=ScheduleMode.REBUILD)
    cost = monthly_cost(rebuild, S_1VCPU_1GB, datetime(2026, 12, 10, tzinfo=UTC),
                        rebuild_minutes=2)
    # December 2026: 23 weekdays less Christmas = 22 trading days; each droplet lives from
    # 08:45 to two minutes past 16:00, 7 h 17 min, billed as 8 started hours
    assert cost.servers == 22
    assert cost.up_hours == 22 * 7.25
    assert cost.rebuild == round(22 * 8 * 0.00893, 2) == 1.57
    assert cost.power_off == cost.always_on == 6.0  # powered off is billed in full
    assert cost.of(rebuild) == 1.57
    assert cost.of(Schedule()) == 6.0


def test_the_monthly_price_caps_a_rebuild_schedule() -> None:
    long_days = Schedule(kind=ScheduleKind.TRADING_HOURS, mode=ScheduleMode.REBUILD,
                         days=tuple(range(7)), opens=time(0, 1), closes=time(23, 59))
    cost = monthly_cost(long_days, S_1VCPU_1GB, datetime(2026, 12, 10, tzinfo=UTC))
    assert cost.rebuild == 6.0


@pytest.mark.parametrize(("text", "minutes"), [("45m", 45), ("8h", 480), ("1h30m", 90),
                                                ("2d", 2880), ("90 min", 90)])
def test_durations(text: str, minutes: int) -> None:
    assert parse_duration(text) == minutes


@pytest.mark.parametrize("text", ["", "soon", "8x", "-1h"])
def test_bad_durations_say_how_to_write_one(text: str) -> None:
    with pytest.raises(ValueError, match="write it like 45m"):
        parse_duration(text)


def test_days_and_hours() -> None:
    assert parse_days("mon-fri") == (0, 1, 2, 3, 4)
    assert parse_days("sun-thu") == (0, 1, 2, 3, 6)
    assert parse_days("mon,wed,fri") == (0, 2, 4)
    assert parse_hours("09:30-16:00") == (time(9, 30), time(16))
    with pytest.raises(ValueError, match="mon-fri"):
        parse_days("weekdays")
    with pytest.raises(ValueError, match="later than the open"):
        parse_hours("16:00-09:30")


def test_bad_schedules_are_refused_with_what_is_wrong() -> None:
    with pytest.raises(ValidationError, match="not a time zone"):
        Schedule(tz="Mars/Olympus")
    with pytest.raises(ValidationError, match="no holiday calendar"):
        Schedule(calendar="NOPE")
    with pytest.raises(ValidationError, match="later than the open"):
        Schedule(kind=ScheduleKind.TRADING_HOURS, opens=time(16), closes=time(9))
    assert Schedule(calendar="XLON").is_trading_day(date(2026, 12, 28)) is False  # Boxing Day
