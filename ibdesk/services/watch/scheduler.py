"""Carries out the accounts' schedules and idle shutdowns.

Who runs it: the window while it (or its tray icon) runs, and `ibdesk watch` — which is
what the headless service (`ibdesk service install`) runs. A schedule runs only while one
of them runs; when none ran at a window's start the server comes up late, and a window
missed entirely is reported when one runs again (history, alert): never silent.

Each scheduled action is an operation of its own (`kind="schedule"`) with a tag made of
the account, the action and the trading day: two ibdesk processes (the window and the
service) never both act, an action is done once per window (a person who starts a
parked server after hours is not overruled every minute), and the monitor leaves the
account alone meanwhile. The actions are `Parking`'s, behind the same guards as a
person's: no IBeam start after a refused login, a delete supersedes them.

Time is the scheduler's `clock` (the tests drive it through a week of trading days
without waiting).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from ibdesk.domain.errors import IbdeskError, StoreError
from ibdesk.domain.models import Account, OperationState, ServerStatus
from ibdesk.domain.schedule import ScheduleMode, Window, duration_text, exchange_holidays
from ibdesk.services import ownership
from ibdesk.services.connect.provisioner import Timing
from ibdesk.services.control.parking import Parking
from ibdesk.services.runtime import Runtime
from ibdesk.services.watch.costs import cost_summary

log = logging.getLogger(__name__)

IDLE_WARNING = timedelta(minutes=15)
"""How long before an idle shutdown the trader is told it is coming."""
TICK = 60.0
"""Seconds between the scheduler's looks (the windows are minutes apart, not seconds)."""
MISSED_LOOKBACK = timedelta(days=7)
"""How far back a window nobody ran is still reported."""


class Did(StrEnum):
    """What one tick did (or found) for an account."""

    UP = "up"
    DOWN = "down"
    IDLE_WARNING = "idle_warning"
    IDLE_DOWN = "idle_down"
    LATE = "late"
    """Brought up after the open: no ibdesk ran at the window's start."""
    MISSED = "missed"
    """A whole window passed with no ibdesk running."""
    FAILED = "failed"
    OVER_BUDGET = "over_budget"
    """This month's cost passed the budget (said once a month; account_id is "ibdesk")."""


@dataclass(frozen=True)
class Done:
    account_id: str
    did: Did
    message: str

    @property
    def alarming(self) -> bool:
        """Worth an alert (the rest is a notification and a history line)."""
        return self.did in (Did.FAILED, Did.MISSED, Did.LATE, Did.OVER_BUDGET)


class Scheduler:
    def __init__(self, rt: Runtime, *, clock: Callable[[], datetime] | None = None,
                 timing: Timing | None = None,
                 on_progress: Callable[[str], None] | None = None) -> None:
        self._rt = rt
        self._clock = clock or (lambda: datetime.now(UTC))
        self._parking = Parking(rt, on_progress, timing)
        self._listeners: list[Callable[[Done], None]] = []
        self._one_tick = asyncio.Lock()

    def subscribe(self, listener: Callable[[Done], None]) -> None:
        self._listeners.append(listener)

    async def run(self, stop: asyncio.Event, every: float = TICK) -> None:
        while not stop.is_set():
            try:
                await self.tick()
            except IbdeskError as exc:
                log.warning("schedule tick failed: %s", exc.user_message)
            except Exception:
                log.exception("schedule tick failed")
            try:
                await asyncio.wait_for(stop.wait(), every)
            except TimeoutError:
                pass

    async def tick(self) -> list[Done]:
        """One look at every scheduled account: bring up, take down, warn, report."""
        async with self._one_tick:
            now = self._clock()
            await self._end_dead_runs()
            busy = {o.account_id for o in await self._rt.store.operations()}
            done: list[Done] = []
            accounts = await self._rt.store.list_accounts()
            await self._calendars_loaded(accounts, now)
            for account in accounts:
                if account.id in busy:
                    continue
                done += await self._account(account, now)
            done += await self._budget(now)
            for item in done:
                for listener in list(self._listeners):
                    try:
                        listener(item)
                    except Exception:
                        log.exception("schedule listener failed")
            return done

    @staticmethod
    async def _calendars_loaded(accounts: list[Account], now: datetime) -> None:
        """The holiday calendars the schedules need, loaded on a worker thread (the first
        costs ~90 ms: never on the window's loop); cached after."""
        wanted = {a.schedule.calendar for a in accounts if a.schedule.scheduled}
        for calendar in wanted:
            for year in {now.year - 1, now.year, now.year + 1}:
                await asyncio.to_thread(exchange_holidays, calendar, year)

    async def _budget(self, now: datetime) -> list[Done]:
        if self._rt.settings.budget_monthly is None:
            return []
        summary = await cost_summary(self._rt, now)
        if not summary.over_budget:
            return []
        if not await self._first_time("ibdesk", f"budget:{now:%Y-%m}", Did.OVER_BUDGET):
            return []  # said this month already
        return [Done("ibdesk", Did.OVER_BUDGET, summary.budget_text() or "")]

    async def _first_time(self, subject: str, key: str, did: Did) -> bool:
        """Mark `key` as said (an ended operation of its own); False when it was already:
        what is said once however many processes and ticks see it."""
        tag = self._tag(subject, key)
        try:
            await self._rt.store.begin_operation(tag, subject, "schedule",
                                                 {"action": did.value}, owner=None)
        except StoreError:
            return False
        await self._rt.store.update_operation(tag, state=OperationState.DONE)
        return True

    async def _end_dead_runs(self) -> None:
        """A schedule action whose process died leaves the account marked busy: end it
        (failed, with why) so the account is looked at again."""
        for op in await self._rt.store.operations():
            if op.kind == "schedule" and (op.owner is None or not ownership.is_alive(op.owner)):
                await self._rt.store.update_operation(
                    op.request_tag, state=OperationState.FAILED,
                    error="The ibdesk process that ran this scheduled action stopped.")

    async def _account(self, account: Account, now: datetime) -> list[Done]:
        schedule = account.schedule
        out: list[Done] = []
        window = schedule.current(now) if schedule.scheduled else None
        if schedule.scheduled:
            out += await self._missed(account, now)
            if window is not None and account.parked is not None:
                return out + await self._up(account, window, now)
            if window is None and account.parked is None and account.do_droplet_id:
                upcoming = schedule.next_window(now)
                key = f"down:{upcoming.day if upcoming else now.date()}"
                reason = (f"Out of trading hours ({schedule.describe()}); back up "
                          + (f"{upcoming.up:%a %Y-%m-%d %H:%M} UTC." if upcoming else "later."))
                return out + await self._act(account, key, Did.DOWN, reason, park=True,
                                             now=now)
        if schedule.idle_after_minutes and account.parked is None and account.do_droplet_id:
            out += await self._idle(account, now, window)
        return out

    async def _up(self, account: Account, window: Window, now: datetime) -> list[Done]:
        late = now > window.opens
        if late:
            reason = (f"The schedule's start at {window.up:%H:%M} UTC was missed (no ibdesk "
                      f"window or service ran then); started late, at {now:%H:%M} UTC.")
        else:
            reason = f"Trading day {window.day}: up before the open at {window.opens:%H:%M} UTC."
        result = await self._act(account, f"up:{window.day}", Did.LATE if late else Did.UP,
                                 reason, park=False, now=now)
        return result

    async def _missed(self, account: Account, now: datetime) -> list[Done]:
        """Windows that ended while the server stayed parked and no up was recorded."""
        if account.parked is None:
            return []
        out = []
        schedule = account.schedule
        for window in schedule.windows(now - MISSED_LOOKBACK, now):
            if window.closes > now or (account.parked_at and window.up < account.parked_at):
                continue
            store = self._rt.store
            if await store.get_operation(self._tag(account.id, f"up:{window.day}")):
                continue
            if not await self._first_time(account.id, f"missed:{window.day}", Did.MISSED):
                continue  # reported already
            message = (f"The trading day {window.day} was missed: no ibdesk window or service "
                       "ran, so the server was never brought up. A schedule runs only while "
                       "one of them runs (ibdesk service install keeps one running).")
            await store.add_note(account.id, message)
            out.append(Done(account.id, Did.MISSED, message))
        return out

    async def _idle(self, account: Account, now: datetime, window: Window | None
                    ) -> list[Done]:
        schedule = account.schedule
        assert schedule.idle_after_minutes is not None
        limit = timedelta(minutes=schedule.idle_after_minutes)
        since = max((t for t in (account.tunnel_used_at, account.active_since,
                                 account.created_at) if t is not None), default=None)
        if since is None:
            return []
        idle = now - since
        day = window.day if window else now.date()
        if idle >= limit:
            reason = (f"Idle shutdown: nothing went through ibdesk's tunnel to this gateway "
                      f"for {duration_text(int(idle.total_seconds() // 60))} (the limit is "
                      f"{duration_text(schedule.idle_after_minutes)}; ibdesk sees only its "
                      "own tunnel's traffic). Start it again when you need it.")
            return await self._act(account, f"idle:{day}:{since:%H%M}", Did.IDLE_DOWN,
                                   reason, park=True, now=now)
        if idle >= limit - IDLE_WARNING:
            if not await self._first_time(account.id, f"idle-warning:{day}:{since:%H%M}",
                                          Did.IDLE_WARNING):
                return []
            left = duration_text(max(1, int((limit - idle).total_seconds() // 60)))
            how = "powered off" if schedule.mode is ScheduleMode.POWER_OFF else "destroyed"
            return [Done(account.id, Did.IDLE_WARNING,
                         f"{account.id} has been idle for "
                         f"{duration_text(int(idle.total_seconds() // 60))}: its server will "
                         f"be {how} in {left} unless its tunnel is used.")]
        return []

    @staticmethod
    def _tag(account_id: str, key: str) -> str:
        return f"ibdesk-sched:{account_id}:{key}"

    async def _act(self, account: Account, key: str, did: Did, reason: str, *,
                   park: bool, now: datetime) -> list[Done]:
        """Do one action once: recorded first (so no other process does it too)."""
        store = self._rt.store
        tag = self._tag(account.id, key)
        me = ownership.new_owner()
        with ownership.running(me):
            try:
                await store.begin_operation(tag, account.id, "schedule",
                                            {"action": did.value, "reason": reason}, owner=me)
            except StoreError:
                return []  # done already (by this process or another)
            try:
                if park:
                    await self._parking.park(account.id, account.schedule.mode, reason,
                                             at=now)
                else:
                    await self._parking.unpark(account.id, reason)
            except IbdeskError as exc:
                await store.update_operation(tag, state=OperationState.FAILED,
                                             error=exc.user_message)
                what = "take the server down" if park else "bring the server up"
                message = f"The schedule could not {what}: {exc.user_message}"
                if await store.get_account(account.id) is not None:
                    await store.record_status(account.id, ServerStatus.ERROR, message)
                return [Done(account.id, Did.FAILED, message)]
            finally:
                await store.release_operation(tag, me)
            await store.update_operation(tag, state=OperationState.DONE)
        log.info("schedule: %s %s: %s", account.id, did.value, reason)
        return [Done(account.id, did, reason)]


__all__ = ["IDLE_WARNING", "TICK", "Did", "Done", "Scheduler"]
