"""The window runs the schedules (while it or its tray icon runs): a server out of its
trading hours is taken down by the window's own scheduler, which says so and sums the
month's cost for the status bar."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

import qasync

from ibdesk.domain.schedule import Schedule, ScheduleKind, ScheduleMode
from ibdesk.services.runtime import Runtime
from ibdesk.ui.controller import Controller
from tests.helpers import until
from tests.helpers.e2e import provisioner, request


def test_the_window_runs_the_schedules(loop: qasync.QEventLoop, sandboxed: Runtime) -> None:
    rt = sandboxed
    account = loop.run_until_complete(provisioner(rt).connect(request("demo")))
    today = datetime.now(ZoneInfo("America/New_York")).weekday()
    # trading on every day but today: out of hours now, whatever the time
    schedule = Schedule(kind=ScheduleKind.TRADING_HOURS, mode=ScheduleMode.POWER_OFF,
                        days=tuple(d for d in range(7) if d != today))
    rt.repository.update_account(account.id, schedule=schedule)
    controller = Controller(rt)
    done: list[object] = []
    costs: list[object] = []
    controller.schedule_done.connect(done.append)
    controller.costs_changed.connect(costs.append)
    task = asyncio.ensure_future(controller._run_schedules(), loop=loop)
    controller._scheduler_task = task  # as start_monitor does once the monitor is up

    loop.run_until_complete(until(lambda: done and costs, 30))
    assert [d.did.value for d in done] == ["down"]
    assert "Out of trading hours" in done[0].message
    assert rt.repository.require_account(account.id).parked is ScheduleMode.POWER_OFF
    assert costs[-1].scheduled > 0
    loop.run_until_complete(controller.close())  # stops the scheduler too
    assert task.done()
