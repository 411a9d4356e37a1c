"""Setting an account's schedule and idle shutdown, and showing what it costs.

What the window's Schedule dialog and `ibdesk schedule` / `ibdesk idle` share. The
prices are the droplet's size's, recorded from DigitalOcean when the server was made;
an account recorded before ibdesk kept the hourly price asks `/v2/sizes` for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ibdesk.domain.costs import REBUILD_MINUTES, price_of
from ibdesk.domain.errors import CloudError, InvalidInput
from ibdesk.domain.models import Account
from ibdesk.domain.schedule import MonthlyCost, Price, Schedule, Window, monthly_cost
from ibdesk.services.remote import in_thread
from ibdesk.services.runtime import Runtime
from ibdesk.services.token import TokenService


@dataclass(frozen=True)
class ScheduleView:
    account: Account
    price: Price | None
    cost: MonthlyCost | None
    """This month in both modes (None: no price known)."""
    next_window: Window | None
    wanted_up: bool

    @property
    def schedule(self) -> Schedule:
        return self.account.schedule


class Schedules:
    def __init__(self, rt: Runtime, clock: datetime | None = None) -> None:
        self._rt = rt
        self._now = clock

    def _clock(self) -> datetime:
        return self._now or datetime.now(UTC)

    async def price(self, account: Account) -> Price | None:
        """The recorded prices, or `/v2/sizes`' for the account's size."""
        known = price_of(account)
        if known is not None and account.price_hourly is not None:
            return known
        if not account.do_size:
            return known
        try:
            token = await in_thread(TokenService(self._rt).require)
            async with self._rt.cloud(token) as do:
                sizes = {s.slug: s for s in await do.list_sizes()}
        except CloudError:
            return known
        size = sizes.get(account.do_size)
        if size is None:
            return known
        await self._rt.store.update_account(account.id, price_hourly=size.price_hourly)
        return Price(size.price_hourly, size.price_monthly)

    async def show(self, account_id: str) -> ScheduleView:
        account = await self._rt.store.require_account(account_id)
        price = await self.price(account)
        now = self._clock()

        def figures() -> tuple[MonthlyCost | None, Window | None, bool]:
            # a worker thread: the first use loads the holiday calendars (~90 ms)
            cost = monthly_cost(account.schedule, price, now,
                                rebuild_minutes=REBUILD_MINUTES) if price else None
            return cost, account.schedule.next_window(now), account.schedule.wanted_up(now)

        cost, upcoming, up = await in_thread(figures)
        return ScheduleView(account, price, cost, upcoming, up)

    async def set(self, account_id: str, schedule: Schedule) -> ScheduleView:
        """Keep the schedule (idle shutdown is kept as it was unless `schedule` sets it)."""
        account = await self._rt.store.require_account(account_id)
        if schedule.idle_after_minutes is None and account.schedule.idle_after_minutes:
            schedule = schedule.model_copy(
                update={"idle_after_minutes": account.schedule.idle_after_minutes})
        await self._rt.store.update_account(account_id, schedule=schedule)
        await self._rt.store.add_note(account_id, f"Schedule set: {schedule.describe()}.")
        return await self.show(account_id)

    async def set_idle(self, account_id: str, minutes: int | None) -> ScheduleView:
        if minutes is not None and minutes < 15:
            raise InvalidInput("Idle shutdown needs at least 15 minutes (--after 15m or more).")
        account = await self._rt.store.require_account(account_id)
        schedule = Schedule.model_validate({**account.schedule.model_dump(),
                                            "idle_after_minutes": minutes})
        await self._rt.store.update_account(account_id, schedule=schedule)
        await self._rt.store.add_note(
            account_id, f"Idle shutdown {'off' if minutes is None else 'set'}: "
            f"{schedule.describe()}.")
        return await self.show(account_id)


__all__ = ["ScheduleView", "Schedules"]
