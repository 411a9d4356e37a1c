"""This month's cost from the droplets' recorded lives; the projection; the budget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ibdesk.domain.costs import span_cost, summarise
from ibdesk.domain.enums import Environment
from ibdesk.domain.models import Account, DropletSpan
from ibdesk.domain.schedule import Schedule, ScheduleKind, ScheduleMode

DEC = datetime(2026, 12, 1, tzinfo=UTC)
NOW = datetime(2026, 12, 11, 12, 0, tzinfo=UTC)


def span(account: str, hours_ago: float, hours: float | None, *, hourly: float = 0.00893,
         monthly: float = 6.0) -> DropletSpan:
    started = NOW - timedelta(hours=hours_ago)
    return DropletSpan(account_id=account, droplet_id=1, started_at=started,
                       ended_at=None if hours is None else started + timedelta(hours=hours),
                       price_hourly=hourly, price_monthly=monthly)


def account(id_: str = "ib-paper-0a1b2c3d", **kw: object) -> Account:
    return Account(id=id_, username="jane", environment=Environment.PAPER, price_monthly=6.0,
                   price_hourly=0.00893, **kw)  # type: ignore[arg-type]


def test_a_life_is_billed_by_the_started_hour_and_capped() -> None:
    assert span_cost(span("a", 10, 2.5), DEC, NOW) == 3 * 0.00893
    assert span_cost(span("a", 10, 2.0), DEC, NOW) == 2 * 0.00893
    month = span("a", 40 * 24, None)
    assert span_cost(month, DEC, NOW) == 252 * 0.00893  # ten and a half days so far
    assert span_cost(month, DEC, datetime(2027, 1, 1, tzinfo=UTC)) == 6.0  # capped: 744 h
    before = span("a", 20 * 24, 5 * 24)  # ended before December began
    assert span_cost(before, DEC, NOW) == 0.0


def test_so_far_projected_and_deleted_accounts() -> None:
    always = account()
    rebuilt = account("ib-paper-11111111", schedule=Schedule(
        kind=ScheduleKind.TRADING_HOURS, mode=ScheduleMode.REBUILD))
    spans = [span(always.id, 24, None),
             span(rebuilt.id, 30, 7.25), span(rebuilt.id, 10, 7.25),
             span("ib-demo-99999999", 50, 3, hourly=0.00595, monthly=4.0)]  # deleted since
    summary = summarise([always, rebuilt], spans, NOW, budget=5.0)
    by_id = {a.account_id: a for a in summary.accounts}
    assert by_id[always.id].so_far == 24 * 0.00893
    assert by_id[rebuilt.id].so_far == 16 * 0.00893
    assert summary.gone_so_far == 3 * 0.00595
    assert summary.so_far == round(24 * 0.00893 + 16 * 0.00893 + 3 * 0.00595, 2)
    hours_left = (datetime(2027, 1, 1, tzinfo=UTC) - NOW).total_seconds() / 3600
    assert by_id[always.id].projected == 24 * 0.00893 + hours_left * 0.00893
    assert by_id[rebuilt.id].projected < by_id[always.id].projected
    assert not summary.over_budget and summary.heading_over
    assert "On course to exceed" in (summary.budget_text() or "")
    over = summarise([always, rebuilt], spans, NOW, budget=0.1)
    assert over.over_budget and "Over the monthly budget" in (over.budget_text() or "")
    assert summarise([always], spans, NOW).budget_text() is None
