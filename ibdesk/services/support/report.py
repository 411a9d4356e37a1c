"""The usage report: per account, uptime over scheduled time, each outage, refused logins,
this month's cost so far and projected, and the series the window's charts draw.

`ibdesk report` and the window's Report view both read `build_report`; the figures come
from the status history, the droplets' recorded lives and the latency samples alone
(`domain.report`, `domain.costs`).
"""

from __future__ import annotations

import asyncio
import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ibdesk.domain.costs import CostSummary, cost_between, summarise
from ibdesk.domain.enums import Environment, ServerStatus
from ibdesk.domain.report import Uptime, uptime
from ibdesk.domain.schedule import month_bounds
from ibdesk.services.runtime import Runtime


@dataclass(frozen=True)
class AccountReport:
    account_id: str
    environment: Environment
    schedule: str
    uptime: Uptime
    cost_period: float
    """What its droplets cost within the report's period."""
    cost_month: float
    cost_projected: float
    latency: list[tuple[datetime, float]] = field(default_factory=list)


@dataclass(frozen=True)
class Report:
    since: datetime
    until: datetime
    accounts: list[AccountReport]
    costs: CostSummary

    def to_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(), "until": self.until.isoformat(),
            "cost": {"month_so_far": self.costs.so_far, "month_projected": self.costs.projected,
                     "budget": self.costs.budget, "over_budget": self.costs.over_budget},
            "accounts": [{
                "account_id": a.account_id, "environment": a.environment.value,
                "schedule": a.schedule,
                "uptime": None if a.uptime.ratio is None else round(a.uptime.ratio, 6),
                "scheduled_hours": round(a.uptime.scheduled_seconds / 3600, 3),
                "running_hours": round(a.uptime.running_seconds / 3600, 3),
                "logins_refused": a.uptime.logins_refused,
                "cost_period": round(a.cost_period, 2), "cost_month_so_far": round(a.cost_month, 2),
                "cost_month_projected": round(a.cost_projected, 2),
                "outages": [{"start": o.start.isoformat(), "end": o.end.isoformat(),
                             "seconds": round(o.seconds), "status": o.status.value,
                             "reason": o.reason, "ongoing": o.ongoing}
                            for o in a.uptime.outages],
            } for a in self.accounts]}

    def to_csv(self) -> str:
        """One row per outage (accounts without one get a row of their own)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["account_id", "environment", "uptime", "scheduled_hours",
                         "running_hours", "logins_refused", "cost_period",
                         "cost_month_projected", "outage_start", "outage_seconds",
                         "outage_status", "outage_reason"])
        for a in self.accounts:
            head = [a.account_id, a.environment.value,
                    "" if a.uptime.ratio is None else f"{a.uptime.ratio:.6f}",
                    f"{a.uptime.scheduled_seconds / 3600:.3f}",
                    f"{a.uptime.running_seconds / 3600:.3f}", a.uptime.logins_refused,
                    f"{a.cost_period:.2f}", f"{a.cost_projected:.2f}"]
            if not a.uptime.outages:
                writer.writerow([*head, "", "", "", ""])
            for o in a.uptime.outages:
                writer.writerow([*head, o.start.isoformat(), round(o.seconds), o.status.value,
                                 o.reason])
        return out.getvalue()


async def build_report(rt: Runtime, *, days: float = 30.0, now: datetime | None = None
                       ) -> Report:
    now = now or datetime.now(UTC)
    since = now - timedelta(days=days)
    store = rt.store
    accounts = await store.list_accounts()
    month_start, _ = month_bounds(now)
    spans = await store.droplet_spans(min(since, month_start))
    read = []
    for account in accounts:
        before, events = await store.history_between(account.id, since)
        read.append((account, before, events, await store.latency_samples(account.id, since)))

    def assemble() -> Report:
        """The figures, on a worker thread (the window's loop only reads and draws)."""
        costs = summarise(accounts, spans, now, rt.settings.budget_monthly)
        by_id = {c.account_id: c for c in costs.accounts}
        out = []
        for account, before, events, latency in read:
            figures = uptime(account.schedule, before, events, since, now,
                             created_at=account.created_at)
            cost = by_id[account.id]
            out.append(AccountReport(account.id, account.environment,
                                     account.schedule.describe(), figures,
                                     cost_between(spans, since, now, account.id),
                                     cost.so_far, cost.projected, latency))
        return Report(since, now, out, costs)

    return await asyncio.to_thread(assemble)


STATUS_ORDER = [ServerStatus.RUNNING, ServerStatus.INITIALIZING, ServerStatus.PROVISIONING,
                ServerStatus.STOPPED, ServerStatus.ERROR]
"""The chart's rows, top to bottom."""


__all__ = ["STATUS_ORDER", "AccountReport", "Report", "build_report"]
