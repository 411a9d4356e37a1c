"""Watching every account continuously, cheaply.

A cycle costs one DigitalOcean list call per 200 droplets (`GET /v2/droplets?tag_name=
ibdesk&per_page=200`, following pages), never a request per droplet, plus gateway probes
through each account's own SSH connection, which stays open between cycles (reopened
with back-off when it drops) and carries keep-alive HTTP, under a concurrency bound.

The cadence adapts: accounts in transition are looked at every few seconds, steady ones
slowly, and the list call is stretched whenever DigitalOcean's `ratelimit-*` headers say
the budget would not last, so the monitor never causes a 429. Results are written in one
transaction per cycle; history rows only when a status changed. Listeners (the window,
`ibdesk watch`) receive each change.

The failed-login guard lives here: when IBeam's log shows that IBKR refused the password,
or refused MAX_REFUSED_CODES 2FA codes (which IBeam itself never counts), the monitor
stops IBeam on that server at once (IBKR locks a username after repeated failures),
marks the account, and reports it until the login is fixed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ibdesk.cloud import DigitalOceanClient, DropletSummary
from ibdesk.domain.cadence import CADENCE, next_look
from ibdesk.domain.errors import (
    CloudAuthError,
    CloudError,
    GatewayError,
    IbdeskError,
    RateLimited,
    SecretsError,
)
from ibdesk.domain.models import (
    Account,
    GatewayHealth,
    IBeamVerdict,
    OperationState,
    ServerStatus,
    StatusEvent,
)
from ibdesk.domain.naming import APP_TAG
from ibdesk.gateway import GatewayProbe, Remote
from ibdesk.oslimits import raise_file_limit
from ibdesk.services.control import ibeam_control
from ibdesk.services.remote import RemoteAccess, in_thread
from ibdesk.services.runtime import Runtime
from ibdesk.services.token import TokenService
from ibdesk.services.watch.status import basis, evaluate
from ibdesk.store import StatusUpdate

log = logging.getLogger(__name__)

TRANSITIONAL = (ServerStatus.PROVISIONING, ServerStatus.INITIALIZING)
GUARD_GRACE = 10.0
"""Seconds a closing monitor waits for a guard under way (two SSH commands)."""
_STILL = ("Gateways are still checked and the failed-login guard still works; servers' "
          "states are as last seen.")


@dataclass
class MonitorConfig:
    fast_interval: float = CADENCE.fast
    """Seconds between looks at an account in transition."""
    slow_interval: float = CADENCE.steady
    """Seconds between looks at a running or stopped account."""
    error_interval: float = CADENCE.error
    probe_concurrency: int = 128
    """Probes in flight. Each is on its own droplet's SSH connection (at most two requests
    on it, to two different servers), so the bound is this computer's, not IBKR's or a
    droplet's: at 40 ms to the droplets, 64 left a 1,000-account sweep waiting on round
    trips (benchmarks/monitor.py --rtt-ms 40)."""
    probe_timeout: float = 20.0
    """Above IBeam's own 15 s: its /readyz tickles the gateway with that timeout."""
    budget_share: float = 0.5
    """Share of DigitalOcean's remaining rate budget the monitor may spend."""
    reconnect_max: float = 300.0


@dataclass(frozen=True)
class StatusChange:
    """What listeners receive: the new history line and the account as it is now."""

    event: StatusEvent
    account: Account


@dataclass
class CycleStats:
    accounts: int = 0
    do_requests: int = 0
    probes: int = 0
    changes: int = 0
    rate_limited: int = 0
    seconds: float = 0.0
    listed: bool = False
    ratelimit_remaining: int | None = None
    """DigitalOcean's remaining request budget after the cycle, as last seen."""
    do_answers: dict[str, int] = field(default_factory=dict)
    """This cycle's DigitalOcean requests by status code ("none": no answer)."""
    sessions_opened: int = 0
    """SSH connections opened in the cycle."""
    sessions_closed: int = 0
    """SSH connections ended in the cycle (a server off or deleted, a connection lost)."""


class _Session:
    """One account's open SSH connection and its persistent prober."""

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id
        self.stack = contextlib.AsyncExitStack()
        self.remote: Remote | None = None
        self.prober: GatewayProbe | None = None
        self.failures = 0
        self.retry_at = 0.0
        self.last_error: str | None = None

    async def close(self) -> None:
        self.remote = None
        self.prober = None
        with contextlib.suppress(Exception):
            await self.stack.aclose()
        self.stack = contextlib.AsyncExitStack()


@dataclass
class _Schedule:
    next_look: dict[str, float] = field(default_factory=dict)
    next_list: float = 0.0
    list_interval: float = 5.0


class Monitor:
    """Run `await monitor.run(stop)` on the event loop; `refresh(id)` looks at one now."""

    def __init__(self, rt: Runtime, config: MonitorConfig | None = None) -> None:
        raise_file_limit()
        self._rt = rt
        self.config = config or MonitorConfig()
        self._listeners: list[Callable[[StatusChange], None]] = []
        self._cycle_listeners: list[Callable[[list[StatusUpdate]], None]] = []
        self._degraded_listeners: list[Callable[[str | None], None]] = []
        self._stats_listeners: list[Callable[[CycleStats], None]] = []
        self.degraded: str | None = None
        """Why DigitalOcean cannot be asked now (token revoked or missing, an outage, a
        429), or None. Meanwhile gateways are still probed, from the last droplet list."""
        self._listed = False
        self._sessions: dict[str, _Session] = {}
        self._schedule = _Schedule(list_interval=self.config.fast_interval)
        self._droplets: dict[int, DropletSummary] = {}
        self._client: DigitalOceanClient | None = None
        self._token: str | None = None
        self._gate = asyncio.Semaphore(self.config.probe_concurrency)
        self._guards: set[asyncio.Task[Account]] = set()
        """Guards under way; they outlive a cancelled cycle (see `close`)."""
        self._one_cycle = asyncio.Lock()
        """Cycles never overlap (a refresh during a cycle waits for it): two would read the
        same accounts and write their results over each other's."""
        self.last_cycle = CycleStats()
        self._opened = self._closed = 0
        """SSH connections opened and ended so far (a cycle's figures are the change)."""

    # ------------------------------------------------------------------ listeners
    def subscribe(self, listener: Callable[[StatusChange], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def subscribe_cycles(self, listener: Callable[[list[StatusUpdate]], None]) -> None:
        """Every account looked at in a cycle, changed or not (latency charts, ages)."""
        self._cycle_listeners.append(listener)

    def subscribe_stats(self, listener: Callable[[CycleStats], None]) -> None:
        """Called after every cycle that looked at something, with its figures."""
        self._stats_listeners.append(listener)

    def subscribe_degraded(self, listener: Callable[[str | None], None]) -> None:
        """Called when monitoring becomes degraded (with why) and when it is whole again
        (None)."""
        self._degraded_listeners.append(listener)

    def _set_degraded(self, why: str | None) -> None:
        if why == self.degraded:
            return
        self.degraded = why
        if why:
            log.warning("monitoring degraded: %s", why)
        else:
            log.info("monitoring whole again: DigitalOcean answers")
        for listener in list(self._degraded_listeners):
            try:
                listener(why)
            except Exception:
                log.exception("degraded listener failed")

    def _emit(self, change: StatusChange) -> None:
        for listener in list(self._listeners):
            try:
                listener(change)
            except Exception:  # a broken listener must not stop the monitor
                log.exception("status listener failed")

    # ------------------------------------------------------------------ running
    async def run(self, stop: asyncio.Event) -> None:
        """Cycles until `stop` is set. A cycle under way when it is set is abandoned (its
        results are not written; the next start looks again): a thousand accounts' sweep
        took the window's closing 15 s, and the process was killed."""
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                cycle = asyncio.ensure_future(self.cycle())
                await asyncio.wait({cycle, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not cycle.done():
                    cycle.cancel()
                    await asyncio.wait({cycle})
                    break
                try:
                    cycle.result()
                except IbdeskError as exc:
                    log.warning("monitor cycle failed: %s", exc.user_message)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(stopping), timeout=self._sleep_for())
        finally:
            stopping.cancel()
            await self.close()

    def _sleep_for(self) -> float:
        now = time.monotonic()
        upcoming = [self._schedule.next_list, *self._schedule.next_look.values()]
        return max(0.2, min(self.config.fast_interval, min(upcoming, default=now + 5) - now))

    async def close(self) -> None:
        """Ends every SSH connection at once (each close only says goodbye; nothing is
        awaited from a thousand servers one after the other), after letting a guard under
        way finish stopping IBeam: an interrupted guard could leave IBeam trying a
        refused password."""
        if self._guards:
            await asyncio.wait(set(self._guards), timeout=GUARD_GRACE)
        sessions = list(self._sessions.values())
        self._sessions.clear()
        await asyncio.gather(*(session.close() for session in sessions),
                             return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _cloud(self) -> DigitalOceanClient:
        token = await in_thread(TokenService(self._rt).require)
        if self._client is None or token != self._token:
            if self._client is not None:
                await self._client.aclose()
            self._client = self._rt.cloud(token)
            self._token = token
        return self._client

    async def refresh(self, account_id: str) -> list[StatusChange]:
        """Look at one account now (a manual refresh)."""
        self._schedule.next_look[account_id] = 0.0
        self._schedule.next_list = 0.0
        return (await self.cycle(only={account_id}))[1]

    async def cycle(self, *, force: bool = False, only: set[str] | None = None
                    ) -> tuple[CycleStats, list[StatusChange]]:
        """One pass; with `force` every account is looked at and the list is fetched."""
        async with self._one_cycle:
            return await self._cycle(force=force, only=only)

    async def _cycle(self, *, force: bool, only: set[str] | None
                     ) -> tuple[CycleStats, list[StatusChange]]:
        started = time.perf_counter()
        now = time.monotonic()
        stats = CycleStats()
        opened, closed = self._opened, self._closed
        # who is there: ids only; whole accounts are read for those due (with a beat per
        # tenth of the interval, reading all of them every cycle read each ten times over)
        ids = await self._rt.store.watched_account_ids()
        busy = await self._busy_accounts()
        ids = [i for i in ids if i not in busy and (only is None or i in only)]
        stats.accounts = len(ids)
        due_ids = [i for i in ids if force or self._schedule.next_look.get(i, 0.0) <= now]
        due = [a for a in await self._rt.store.accounts(due_ids)
               if a.do_droplet_id is not None] if due_ids else []
        if not due:
            self.last_cycle = stats
            return stats, []
        # the droplet list is fetched while the gateways the last list showed running are
        # probed: at 1,000 droplets it is 5 pages, and waiting for it delayed every probe
        listing = asyncio.ensure_future(self._list(due, now, stats, force=force))
        try:
            early = await asyncio.gather(*(self._look_early(a, stats) for a in due))
        except BaseException:
            listing.cancel()
            raise
        self._set_degraded(await listing)
        looked = await asyncio.gather(*(self._look(a, health, stats) for a, health in early))
        updates = [u for u in looked if u is not None]
        stale: list[str] = []
        events = await self._rt.store.record_statuses(updates, stale)
        if stale:  # not written, so not shown either
            updates = [u for u in updates if u.account_id not in set(stale)]
        for cycle_listener in list(self._cycle_listeners):
            try:
                cycle_listener(updates)
            except Exception:
                log.exception("cycle listener failed")
        changes: list[StatusChange] = []
        if events:
            fresh = {a.id: a for a in await self._rt.store.accounts(
                [e.account_id for e in events])}
            for event in events:
                if event.account_id in fresh:
                    change = StatusChange(event, fresh[event.account_id])
                    changes.append(change)
                    self._emit(change)
        self._reschedule(due, updates, stale, now)
        stats.changes = len(changes)
        stats.sessions_opened, stats.sessions_closed = (self._opened - opened,
                                                        self._closed - closed)
        stats.seconds = time.perf_counter() - started
        if self._client is not None:
            stats.ratelimit_remaining = self._client.rate_limit.remaining
        self.last_cycle = stats
        for stats_listener in list(self._stats_listeners):
            try:
                stats_listener(stats)
            except Exception:
                log.exception("stats listener failed")
        return stats, changes

    def _reschedule(self, due: list[Account], updates: list[StatusUpdate], stale: list[str],
                    now: float) -> None:
        """Each account's next look, on its beat for its status."""
        for update in updates:
            status = update.status
            interval = (self.config.fast_interval if status in TRANSITIONAL else
                        self.config.error_interval if status is ServerStatus.ERROR else
                        self.config.slow_interval)
            self._schedule.next_look[update.account_id] = next_look(update.account_id, now,
                                                                    interval)
        for account_id in stale:  # changed while looked at: look again in the next cycle
            self._schedule.next_look[account_id] = now
        written = {u.account_id for u in updates}
        for account in due:  # guard-only looks (no droplet list yet): as often as errors
            if account.id not in written and account.id not in stale:
                self._schedule.next_look[account.id] = next_look(
                    account.id, now, self.config.error_interval)

    async def _list(self, due: list[Account], now: float, stats: CycleStats, *,
                    force: bool) -> str | None:
        """Refresh the droplet list when due; returns why it could not be (the cycle then
        goes on from the last list: a revoked token or an outage must not stop the probes,
        and with them the failed-login guard)."""
        try:
            client = await self._cloud()
        except CloudError:  # no token at all
            return ("no DigitalOcean token is stored. " + _STILL
                    + " Give ibdesk a token: ibdesk token set.")
        if not (force or now >= self._schedule.next_list or any(
                a.do_droplet_id not in self._droplets for a in due)):
            return self.degraded
        before = client.requests_sent
        answered = dict(client.answers)
        try:
            droplets = await client.list_droplet_summaries(tag_name=APP_TAG)
        except RateLimited:
            stats.rate_limited += 1
            self._schedule.next_list = now + self._schedule.list_interval * 2
            return "DigitalOcean asks ibdesk to slow down (429). " + _STILL
        except CloudAuthError as exc:
            self._schedule.next_list = now + self._schedule.list_interval
            log.info("the token was refused: %s", exc.user_message)
            return ("DigitalOcean refused the API token (revoked or expired). " + _STILL
                    + " Create a new token (DigitalOcean → API → Tokens) and give it to "
                    "ibdesk: ibdesk token set.")
        except CloudError as exc:
            self._schedule.next_list = now + self._schedule.list_interval
            return f"DigitalOcean does not answer ({exc.user_message.rstrip('.')}). " + _STILL
        finally:
            stats.do_requests = client.requests_sent - before
            stats.do_answers = {code: count - answered.get(code, 0)
                                for code, count in client.answers.items()
                                if count > answered.get(code, 0)}
            stats.rate_limited += client.rate_limited_seen
            client.rate_limited_seen = 0
        self._droplets = {d.id: d for d in droplets}
        self._listed = True
        stats.listed = True
        self._stretch(len(droplets), stats.do_requests)
        self._schedule.next_list = now + self._schedule.list_interval
        return None

    async def _busy_accounts(self) -> set[str]:
        """Accounts a connect or delete is working on: theirs to report, not ours."""
        ops = await self._rt.store.operations(states=(OperationState.PENDING,))
        return {o.account_id for o in ops}

    def _stretch(self, droplet_count: int, requests: int) -> None:
        """Space list calls so that they use at most a share of the rate budget."""
        pages = max(1, math.ceil(droplet_count / 200), requests)
        interval = self.config.fast_interval
        rl = self._client.rate_limit if self._client is not None else None
        # 250 requests a minute per token
        interval = max(interval, pages * 60 / (250 * self.config.budget_share))
        if rl is not None and rl.remaining is not None and rl.reset is not None:
            window = max(1.0, rl.reset - time.time())
            allowed = max(1, rl.remaining) * self.config.budget_share
            interval = max(interval, pages * window / allowed)
        self._schedule.list_interval = min(interval, 600.0)

    # ------------------------------------------------------------------ one account
    def _probed(self, account: Account) -> bool:
        """Whether the account's gateway is asked: IBeam started, the login not refused,
        and the server running (by the last droplet list, or by the database until a
        list ever came: the failed-login guard must not wait for DigitalOcean)."""
        if not account.ibeam_started or account.login_refused is not None:
            return False
        if not self._listed:
            return account.do_server_status in (ServerStatus.RUNNING,
                                                ServerStatus.INITIALIZING)
        droplet = self._droplets.get(account.do_droplet_id or -1)
        return droplet is not None and droplet.status == "active"

    async def _look_early(self, account: Account, stats: CycleStats
                          ) -> tuple[Account, GatewayHealth | None]:
        """The probe (and the guard), while the droplet list is fetched."""
        if not self._probed(account):
            return account, None
        health = await self._probe(account)
        stats.probes += 1
        if health.verdict is not None and health.verdict.guarded:
            guard = asyncio.ensure_future(self._guard(account, health.verdict))
            self._guards.add(guard)
            guard.add_done_callback(self._guards.discard)
            account = await asyncio.shield(guard)  # a cancelled cycle does not stop it
        return account, health

    async def _look(self, account: Account, health: GatewayHealth | None, stats: CycleStats
                    ) -> StatusUpdate | None:
        """The account's status from the droplet list just fetched and its probe (made
        now when the list just showed a server the last one did not)."""
        now = datetime.now(UTC)
        if not self._listed:  # DigitalOcean never answered yet: the guard only
            return None
        droplet = self._droplets.get(account.do_droplet_id or -1)
        missing = droplet is None
        if droplet is not None and droplet.status == "active":
            if health is None and self._probed(account):
                account, health = await self._look_early(account, stats)
        else:
            health = None  # a probe of a server that is off now says nothing
            await self._drop_session(account.id)
        decision, fields = evaluate(account, droplet, health, now=now, missing=missing)
        return StatusUpdate(account.id, decision.status, decision.detail.reason, now,
                            decision.detail, fields, basis(account))

    async def _session(self, account: Account) -> _Session | None:
        session = self._sessions.get(account.id)
        if session is None:
            session = self._sessions[account.id] = _Session(account.id)
        if session.remote is not None:
            return session
        if time.monotonic() < session.retry_at:
            return None
        try:
            session.remote = await session.stack.enter_async_context(
                RemoteAccess(self._rt).open(account))
            session.prober = GatewayProbe(session.remote, timeout=self.config.probe_timeout)
            session.stack.push_async_callback(session.prober.aclose)
            session.failures = 0
            self._opened += 1
            return session
        except (GatewayError, SecretsError) as exc:
            session.failures += 1
            session.retry_at = time.monotonic() + min(self.config.reconnect_max,
                                                      2 ** session.failures)
            session.last_error = exc.user_message
            await session.close()
            raise

    def retry_now(self) -> None:
        """Forget the reconnect back-off (new credentials arrived: try them at once)."""
        for session in self._sessions.values():
            session.failures = 0
            session.retry_at = 0.0
        self._schedule.next_look.clear()

    async def _drop_session(self, account_id: str) -> None:
        session = self._sessions.pop(account_id, None)
        if session is not None:
            await self._end(session)

    async def _end(self, session: _Session) -> None:
        if session.remote is not None:
            self._closed += 1
        await session.close()

    async def _probe(self, account: Account) -> GatewayHealth:
        async with self._gate:
            try:
                session = await self._session(account)
            except (GatewayError, SecretsError) as exc:
                return GatewayHealth(checked_at=datetime.now(UTC), reachable=False,
                                     error=exc.user_message)
            if session is None or session.prober is None:
                return GatewayHealth(checked_at=datetime.now(UTC), reachable=False,
                                     error="Waiting before reconnecting to the server.")
            health = await session.prober.probe()
            if session.remote is not None and session.remote.closed or (
                    not health.reachable and health.error and "not running" not in health.error):
                # the connection itself is gone (a reboot kills it): reopen at once, next
                # look (kept, it never came back: the account stayed "Starting" for ever)
                await self._end(session)
                session.retry_at = 0.0
            return health

    async def _guard(self, account: Account, verdict: IBeamVerdict) -> Account:
        """IBKR refused the login (or too many 2FA codes): stop IBeam now, before IBKR
        locks the username, and disable it so that a reboot does not start it."""
        session = self._sessions.get(account.id)
        if session is not None and session.remote is not None:
            try:
                return await ibeam_control.guard(self._rt, session.remote, account, verdict)
            except GatewayError as exc:
                log.warning("could not stop IBeam on %s: %s", account.id, exc.user_message)
        return await self._rt.store.update_account(account.id,
                               login_refused=verdict)


__all__ = ["CycleStats", "Monitor", "MonitorConfig", "StatusChange"]
