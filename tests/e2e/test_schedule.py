"""Schedules on the sandbox, driven by the scheduler's clock (no real waits): a week of
trading days with a holiday, the rebuild and power-off modes, a missed window, a late
start, idle shutdown, and the failed-login guard."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from ibdesk.domain.enums import IBeamVerdict, ServerStatus
from ibdesk.domain.models import OperationState
from ibdesk.domain.naming import account_tag
from ibdesk.domain.schedule import Schedule, ScheduleKind, ScheduleMode
from ibdesk.sandbox import Sandbox
from ibdesk.services import Runtime
from ibdesk.services.control import tunnel as tunnel_module
from ibdesk.services.control.tunnel import KeptTunnel
from ibdesk.services.watch.scheduler import Did, Scheduler
from tests.helpers import until
from tests.helpers.e2e import FAST, provisioner, request

NY = ZoneInfo("America/New_York")


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def at(self, text: str) -> None:
        self.now = datetime.fromisoformat(text).replace(tzinfo=NY)


def scheduler(rt: Runtime, clock: Clock) -> Scheduler:
    return Scheduler(rt, clock=clock, timing=FAST)


def trading(mode: ScheduleMode, **kw: object) -> Schedule:
    return Schedule(kind=ScheduleKind.TRADING_HOURS, mode=mode, **kw)  # type: ignore[arg-type]


def ours(sandbox: Sandbox, account_id: str) -> list[int]:
    return [d.id for d in sandbox.world.droplets.values() if account_tag(account_id) in d.tags]


async def test_a_week_of_rebuilds_with_a_holiday_a_missed_day_and_a_late_start(
        sandbox: Sandbox, rt: Runtime) -> None:
    account = await provisioner(rt).connect(request("paper"))
    first = account.do_droplet_id
    await rt.store.update_account(account.id, schedule=trading(ScheduleMode.REBUILD))
    clock = Clock(datetime(2026, 12, 20, 12, 0, tzinfo=NY))  # a Sunday
    run = scheduler(rt, clock)

    done = await run.tick()
    assert [d.did for d in done] == [Did.DOWN]
    parked = await rt.store.require_account(account.id)
    assert parked.parked is ScheduleMode.REBUILD and parked.do_droplet_id is None
    assert ours(sandbox, account.id) == []  # destroyed: nothing billed
    assert parked.do_server_status is ServerStatus.STOPPED
    assert await run.tick() == []  # said and done once

    rebuild_seconds = []
    for day in ("21", "22", "23", "24"):  # Monday to Thursday
        clock.at(f"2026-12-{day} 08:50")  # 40 minutes before the open, in the lead time
        started = time.perf_counter()
        done = await run.tick()
        rebuild_seconds.append(time.perf_counter() - started)
        assert [d.did for d in done] == [Did.UP], day
        up = await rt.store.require_account(account.id)
        assert up.parked is None and up.do_droplet_id not in (None, first)
        assert up.do_server_status is ServerStatus.RUNNING and up.ibeam_started
        assert ours(sandbox, account.id) == [up.do_droplet_id]
        clock.at(f"2026-12-{day} 12:00")
        assert await run.tick() == []  # within the window: left alone
        clock.at(f"2026-12-{day} 16:05")
        assert [d.did for d in await run.tick()] == [Did.DOWN]
        assert ours(sandbox, account.id) == []
    print(f"rebuild on the sandbox: {', '.join(f'{s:.1f}' for s in rebuild_seconds)} s")

    clock.at("2026-12-25 08:50")  # Christmas: NYSE is closed (the holidays calendar)
    assert await run.tick() == []
    assert (await rt.store.require_account(account.id)).parked is ScheduleMode.REBUILD

    clock.at("2026-12-28 17:00")  # Monday passed with no ibdesk running at all
    done = await run.tick()
    assert [d.did for d in done] == [Did.MISSED] and done[0].alarming
    assert "2026-12-28 was missed" in done[0].message
    assert await run.tick() == []  # reported once
    clock.at("2026-12-29 10:15")  # Tuesday, after the open: late, and said so
    done = await run.tick()
    assert [d.did for d in done] == [Did.LATE] and done[0].alarming
    assert (await rt.store.require_account(account.id)).do_server_status is ServerStatus.RUNNING

    reasons = [e.reason for e in rt.repository.history(account.id)]
    assert sum("Out of trading hours" in r for r in reasons) == 5
    assert sum("The server was destroyed" in r for r in reasons) == 5
    assert any("2026-12-28 was missed" in r for r in reasons)
    assert any("started late" in r for r in reasons)
    ops = [o for o in rt.repository.operations(states=tuple(OperationState),
                                               account_id=account.id) if o.kind == "schedule"]
    assert all(o.state is OperationState.DONE for o in ops)


async def test_power_off_mode_keeps_the_droplet(sandbox: Sandbox, rt: Runtime) -> None:
    account = await provisioner(rt).connect(request("demo"))
    await rt.store.update_account(account.id, schedule=trading(ScheduleMode.POWER_OFF))
    clock = Clock(datetime(2026, 12, 19, 9, 0, tzinfo=NY))  # a Saturday
    run = scheduler(rt, clock)
    assert [d.did for d in await run.tick()] == [Did.DOWN]
    down = await rt.store.require_account(account.id)
    assert down.parked is ScheduleMode.POWER_OFF and down.do_droplet_id == account.do_droplet_id
    assert sandbox.world.droplets[account.do_droplet_id or 0].power == "off"  # still billed
    history = rt.repository.history(account.id)
    assert history[-1].status is ServerStatus.STOPPED
    assert "Out of trading hours" in history[-1].reason  # the schedule's reason is the line

    clock.at("2026-12-21 09:00")
    assert [d.did for d in await run.tick()] == [Did.UP]
    assert sandbox.world.droplets[account.do_droplet_id or 0].power != "off"
    assert (await rt.store.require_account(account.id)).parked is None


async def test_a_person_overrules_the_schedule_until_its_next_action(
        sandbox: Sandbox, rt: Runtime) -> None:
    from ibdesk.services.control.lifecycle import Lifecycle

    account = await provisioner(rt).connect(request("demo"))
    await rt.store.update_account(account.id, schedule=trading(ScheduleMode.REBUILD))
    clock = Clock(datetime(2026, 12, 21, 18, 0, tzinfo=NY))  # Monday evening
    run = scheduler(rt, clock)
    assert [d.did for d in await run.tick()] == [Did.DOWN]
    # the trader needs it tonight: Start creates it again
    report = await Lifecycle(rt, poll=0.05).start(account.id)
    assert report.account.do_droplet_id is not None and report.account.parked is None
    clock.at("2026-12-21 20:00")
    assert await run.tick() == []  # not destroyed again tonight
    clock.at("2026-12-22 16:30")
    assert [d.did for d in await run.tick()] == [Did.DOWN]  # Tuesday's close: the schedule again


async def test_no_rebuild_after_a_refused_login(sandbox: Sandbox, rt: Runtime) -> None:
    account = await provisioner(rt).connect(request("paper"))
    await rt.store.update_account(account.id, schedule=trading(ScheduleMode.REBUILD))
    clock = Clock(datetime(2026, 12, 20, 12, 0, tzinfo=NY))
    run = scheduler(rt, clock)
    await run.tick()
    await rt.store.update_account(account.id, login_refused=IBeamVerdict.PASSWORD_REFUSED)
    clock.at("2026-12-21 09:00")
    done = await run.tick()
    assert [d.did for d in done] == [Did.FAILED] and done[0].alarming
    assert "refused the login" in done[0].message
    assert ours(sandbox, account.id) == []  # nothing created, IBeam never started
    assert (await rt.store.require_account(account.id)).do_server_status is ServerStatus.ERROR


async def test_idle_shutdown_warns_first_and_counts_tunnel_bytes(
        sandbox: Sandbox, rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    account = await provisioner(rt).connect(request("demo"))
    await rt.store.update_account(account.id, schedule=Schedule(idle_after_minutes=60))
    monkeypatch.setattr(tunnel_module, "USE_RECORDED_EVERY", 0.0)
    tunnel = KeptTunnel(rt, account.id, 0)
    port = await tunnel.start()
    try:
        async with httpx.AsyncClient(verify=False, timeout=5) as client:
            answer = await client.post(f"https://localhost:{port}/v1/api/iserver/auth/status")
        assert answer.status_code == 200
        await until(lambda: rt.repository.get_account(account.id).tunnel_used_at, 10)
        assert tunnel.bytes > 0
    finally:
        await tunnel.close()
    used = rt.repository.require_account(account.id).tunnel_used_at
    assert used is not None
    clock = Clock(used + timedelta(minutes=30))
    run = scheduler(rt, clock)
    assert await run.tick() == []
    clock.now = used + timedelta(minutes=50)
    done = await run.tick()
    assert [d.did for d in done] == [Did.IDLE_WARNING] and "in 10m" in done[0].message
    assert await run.tick() == []  # warned once
    clock.now = used + timedelta(minutes=61)
    done = await run.tick()
    assert [d.did for d in done] == [Did.IDLE_DOWN]
    assert "nothing went through ibdesk's tunnel" in done[0].message
    assert sandbox.world.droplets[account.do_droplet_id or 0].power == "off"
