"""The money figures the window's status bar, `ibdesk budget` and the report show:
this month so far (the droplets' recorded lives), the month under each schedule, and
the budget (`budget_monthly`)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from ibdesk.domain.costs import CostSummary, summarise
from ibdesk.domain.schedule import month_bounds
from ibdesk.services.runtime import Runtime


async def cost_summary(rt: Runtime, now: datetime | None = None) -> CostSummary:
    now = now or datetime.now(UTC)
    start, _ = month_bounds(now)
    accounts = await rt.store.list_accounts()
    spans = await rt.store.droplet_spans(start)
    # on a worker thread too: the first use loads the holiday calendars (~90 ms), and a
    # thousand accounts' months are sums over their windows — never on the window's loop
    return await asyncio.to_thread(summarise, accounts, spans, now,
                                   rt.settings.budget_monthly)


__all__ = ["cost_summary"]
