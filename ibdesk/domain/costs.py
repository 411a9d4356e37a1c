"""What the servers cost: this month so far (from the droplets' recorded lives), the month
under each account's schedule, and the budget.

DigitalOcean bills a droplet by the hour up to its monthly price (the cap is 672 hours,
`domain.schedule.HOURS_A_MONTH`), whether it runs or is powered off; a destroyed droplet
costs nothing more. Each life is counted by the started hour, the conservative reading.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from ibdesk.domain.models import Account, DropletSpan
from ibdesk.domain.schedule import MonthlyCost, Price, ScheduleMode, month_bounds, monthly_cost


def span_cost(span: DropletSpan, start: datetime, end: datetime) -> float:
    """What one droplet's life cost within [start, end) (USD)."""
    since = max(span.started_at, start)
    until = min(span.ended_at or end, end)
    if until <= since:
        return 0.0
    hours = math.ceil((until - since).total_seconds() / 3600 - 1e-9)
    return min(span.price_monthly, hours * span.price_hourly)


def cost_between(spans: Iterable[DropletSpan], start: datetime, end: datetime,
                 account_id: str | None = None) -> float:
    return sum(span_cost(s, start, end) for s in spans
               if account_id is None or s.account_id == account_id)


def price_of(account: Account) -> Price | None:
    """The account's size's prices as recorded from DigitalOcean (None before a droplet)."""
    if account.price_monthly is None:
        return None
    hourly = account.price_hourly if account.price_hourly is not None else \
        account.price_monthly / 672
    return Price(hourly=hourly, monthly=account.price_monthly)


@dataclass(frozen=True)
class AccountCost:
    """Unrounded (sums of rounded cents drift); shown with two decimals."""

    account_id: str
    month: MonthlyCost | None
    """The whole month under the schedule, in both modes; None without a price yet."""
    scheduled: float
    """The month under its schedule and mode as set."""
    so_far: float
    """Billed this month already (its droplets' recorded lives)."""
    projected: float
    """So far, plus the rest of the month under its schedule."""


@dataclass(frozen=True)
class CostSummary:
    at: datetime
    accounts: list[AccountCost] = field(default_factory=list)
    gone_so_far: float = 0.0
    """This month's cost of droplets whose accounts are deleted."""
    budget: float | None = None

    @property
    def scheduled(self) -> float:
        return round(sum(a.scheduled for a in self.accounts), 2)

    @property
    def so_far(self) -> float:
        return round(sum(a.so_far for a in self.accounts) + self.gone_so_far, 2)

    @property
    def projected(self) -> float:
        return round(sum(a.projected for a in self.accounts) + self.gone_so_far, 2)

    @property
    def over_budget(self) -> bool:
        """Already spent more than the budget this month."""
        return self.budget is not None and self.so_far > self.budget

    @property
    def heading_over(self) -> bool:
        """On course to spend more than the budget by the month's end."""
        return self.budget is not None and self.projected > self.budget

    def budget_text(self) -> str | None:
        if self.budget is None:
            return None
        if self.over_budget:
            return (f"Over the monthly budget: ${self.so_far:.2f} spent this month, the "
                    f"budget is ${self.budget:.2f}.")
        if self.heading_over:
            return (f"On course to exceed the monthly budget: ${self.projected:.2f} by the "
                    f"month's end, the budget is ${self.budget:.2f}.")
        return None


REBUILD_MINUTES = 2.0
"""What a rebuilt droplet lives past its window: the scheduler looks once a minute and
the destroy takes seconds (0.06 s on the sandbox, benchmarks/rebuild.py). The rebuild
itself happens inside the lead time, from the window's up time on."""


def summarise(accounts: Iterable[Account], spans: list[DropletSpan], now: datetime,
              budget: float | None = None) -> CostSummary:
    start, end = month_bounds(now)
    out = []
    known = set()
    for account in accounts:
        known.add(account.id)
        so_far = cost_between(spans, start, now, account.id)
        price = price_of(account)
        month = monthly_cost(account.schedule, price, now,
                             rebuild_minutes=REBUILD_MINUTES) if price else None
        scheduled = month.of(account.schedule) if month else 0.0
        rest = 0.0
        if price is not None and month is not None:
            rebuilt = account.schedule.scheduled and \
                account.schedule.mode is ScheduleMode.REBUILD
            existing = any(s.account_id == account.id and s.ended_at is None for s in spans)
            if rebuilt:
                # rebuilt each trading day: the rest of the month's share of that
                fraction = max(0.0, (end - now).total_seconds() / (end - start).total_seconds())
                rest = month.rebuild * fraction
            elif existing:  # a droplet that lives on (powered off or not), up to the cap
                rest = min(price.monthly - so_far,
                           price.hourly * (end - now).total_seconds() / 3600)
        out.append(AccountCost(account.id, month, scheduled, so_far,
                               so_far + max(rest, 0.0)))
    gone = sum(span_cost(s, start, now) for s in spans if s.account_id not in known)
    return CostSummary(now, out, gone, budget)


__all__ = ["REBUILD_MINUTES", "AccountCost", "CostSummary", "cost_between", "price_of",
           "span_cost", "summarise"]
