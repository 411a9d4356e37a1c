"""Alerts delivered for real, through Apprise, to a local SMTP server (aiosmtpd) and a
local JSON webhook: the test alert, and the monitor's incidents once each with their
recovery. The URLs are secrets: they never reach the log or the database."""

from __future__ import annotations

import json
import logging
import zipfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller as SMTPController

from ibdesk.domain.alerts import AlertKind
from ibdesk.domain.errors import InvalidInput
from ibdesk.domain.models import ServerStatus
from ibdesk.sandbox import Sandbox
from ibdesk.services import Runtime
from ibdesk.services.watch.alerts import Alerts
from ibdesk.services.watch.monitor import Monitor
from tests.helpers import free_port
from tests.helpers.e2e import cycle_until, provisioner, request

CANARY = "Hook7Canary5Secret3Path"


@dataclass
class Mailbox:
    messages: list[Any] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    server = SMTPController(box, hostname="127.0.0.1", port=port)
    server.start()
    yield box, port
    server.stop()


@pytest.fixture
async def webhook() -> AsyncIterator[tuple[list[dict[str, Any]], int]]:
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post(f"/hook/{CANARY}", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield received, port
    await runner.cleanup()


def _targets(rt: Runtime, smtp_port: int, hook_port: int) -> Alerts:
    alerts = Alerts(rt)
    alerts.add(f"mailto://127.0.0.1:{smtp_port}?smtp=127.0.0.1&mode=insecure"
               "&from=ibdesk@example.com&to=trader@example.com")
    alerts.add(f"json://127.0.0.1:{hook_port}/hook/{CANARY}")
    return alerts


async def test_a_test_alert_reaches_mail_and_webhook(rt: Runtime, smtp: tuple[Mailbox, int],
                                                     webhook: tuple[list[Any], int],
                                                     home: Path) -> None:
    box, smtp_port = smtp
    received, hook_port = webhook
    alerts = Alerts(rt)
    with pytest.raises(InvalidInput, match="No alert target"):
        await alerts.test()
    with pytest.raises(InvalidInput, match="Apprise does not recognise"):
        alerts.add("not a url at all")
    alerts = _targets(rt, smtp_port, hook_port)
    assert alerts.targets() == ["mailto → 127.0.0.1", "json → 127.0.0.1"]  # never the path
    deliveries = await alerts.test()
    assert [d.ok for d in deliveries] == [True, True]
    assert len(box.messages) == 1 and box.messages[0]["Subject"] == "ibdesk: ibdesk: Test alert"
    assert len(received) == 1 and received[0]["title"] == "ibdesk: ibdesk: Test alert"
    assert "reach you here" in received[0]["message"]
    assert alerts.remove(2) == "json → 127.0.0.1"
    assert alerts.targets() == ["mailto → 127.0.0.1"]
    with pytest.raises(InvalidInput, match="no alert target 5"):
        alerts.remove(5)
    # the URL (its secret path) is in the keyring only: not the log, not the database
    for path in [*home.rglob("*.log"), *home.rglob("*.sqlite3*")]:
        assert CANARY not in path.read_bytes().decode("latin-1"), path


async def test_the_monitor_alerts_once_per_incident_and_on_recovery(
        sandbox: Sandbox, rt: Runtime, smtp: tuple[Mailbox, int],
        webhook: tuple[list[Any], int]) -> None:
    box, smtp_port = smtp
    received, hook_port = webhook
    account = await provisioner(rt).connect(request("paper"))
    alerts = _targets(rt, smtp_port, hook_port)
    sent: list[tuple[AlertKind, bool]] = []
    alerts._on_sent = lambda alert, _: sent.append((alert.kind, alert.recovered))
    monitor = Monitor(rt)
    alerts.watch(monitor)
    try:
        await monitor.cycle(force=True)
        ibeam = sandbox.host(account.do_droplet_id or 0).ibeam
        ibeam.set_faults(down=True)
        rt.repository.update_account(account.id,
                                     unhealthy_since=datetime.now(UTC) - timedelta(minutes=30))
        for _ in range(3):  # down, and still down: one alert
            await monitor.cycle(force=True)
            await alerts.drain()
        assert rt.repository.require_account(account.id).do_server_status is ServerStatus.ERROR
        assert sent == [(AlertKind.GATEWAY_DOWN, False)]
        ibeam.set_faults(down=False)
        await cycle_until(monitor, rt, account.id,
                          lambda a: a.do_server_status is ServerStatus.RUNNING)
        await alerts.drain()
        assert sent == [(AlertKind.GATEWAY_DOWN, False), (AlertKind.GATEWAY_DOWN, True)]
    finally:
        await monitor.close()
    titles = [m["Subject"] for m in box.messages]
    assert titles == [f"ibdesk: {account.id}: Gateway down",
                      f"ibdesk: {account.id} recovered (gateway down ended)"]
    assert [r["title"] for r in received] == titles
    assert "paperjane" not in json.dumps(received)  # the IBKR username is never sent


async def test_a_target_that_fails_leaks_its_url_nowhere(rt: Runtime, home: Path,
                                                         tmp_path: Path) -> None:
    """Apprise names what it could not reach; the app log, the database and a support
    bundle must still not hold the URL (its secret path), raw, JSON-escaped or as repr."""
    from ibdesk import applog
    from ibdesk.services.support.bundle import BundleBuilder

    applog.install(home)
    alerts = Alerts(rt)
    alerts.add(f"json://127.0.0.1:{free_port()}/hook/{CANARY}?x=1")  # nobody listens
    deliveries = await alerts.test()
    assert [d.ok for d in deliveries] == [False]
    logging.getLogger("apprise").warning("as a library might: %s", deliveries[0].url)
    out = tmp_path / "support.zip"
    await BundleBuilder(rt).build(None, out)
    applog.uninstall()  # every record written
    with zipfile.ZipFile(out) as bundle:
        texts = {name: bundle.read(name) for name in bundle.namelist()}
    forms = [CANARY, json.dumps(deliveries[0].url)[1:-1], repr(deliveries[0].url)[1:-1]]
    places = {**{str(p): p.read_bytes() for p in [*home.rglob("*.log"),
                                                  *home.rglob("*.sqlite3*")]}, **texts}
    assert any(p.endswith(".log") for p in places)
    for where, data in places.items():
        for form in forms:
            assert form.encode() not in data, f"the alert URL leaked into {where}"


async def test_schedule_budget_and_deleted_outside_alerts_reach_the_webhook(
        sandbox: Sandbox, rt: Runtime, webhook: tuple[list[Any], int]) -> None:
    """A scheduled start that cannot happen (the login was refused), the month's budget
    passed, and a server deleted in DigitalOcean's control panel: each one alert."""
    from zoneinfo import ZoneInfo

    from ibdesk.domain.enums import IBeamVerdict
    from ibdesk.domain.schedule import Schedule, ScheduleKind, ScheduleMode
    from ibdesk.services.watch.scheduler import Scheduler
    from tests.helpers.e2e import FAST

    received, hook_port = webhook
    rebuilt = await provisioner(rt).connect(request("paper"))
    other = await provisioner(rt).connect(request("demo"))
    alerts = Alerts(rt)
    alerts.add(f"json://127.0.0.1:{hook_port}/hook/{CANARY}")
    rt.settings = rt.settings.model_copy(update={"budget_monthly": 0.001})
    now = [datetime(2026, 12, 20, 12, 0, tzinfo=ZoneInfo("America/New_York"))]
    scheduler = Scheduler(rt, clock=lambda: now[0], timing=FAST)
    alerts.watch_scheduler(scheduler)
    monitor = Monitor(rt)
    alerts.watch(monitor)
    try:
        await rt.store.update_account(rebuilt.id, schedule=Schedule(
            kind=ScheduleKind.TRADING_HOURS, mode=ScheduleMode.REBUILD))
        await scheduler.tick()  # Sunday: destroyed
        await rt.store.update_account(rebuilt.id, login_refused=IBeamVerdict.PASSWORD_REFUSED)
        now[0] = now[0].replace(day=21, hour=9)
        await scheduler.tick()  # Monday: the rebuild is refused, IBeam never started
        await scheduler.tick()  # said once
        await alerts.drain()
        sandbox.world.droplets.pop(other.do_droplet_id or 0)  # gone, not by ibdesk
        await monitor.cycle(force=True)
        await monitor.cycle(force=True)
        await alerts.drain()
    finally:
        await monitor.close()
    titles = [r["title"] for r in received]
    assert titles.count(f"ibdesk: {rebuilt.id}: A scheduled start or rebuild failed") == 1
    assert titles.count("ibdesk: ibdesk: Monthly budget exceeded") == 1
    assert titles.count(f"ibdesk: {other.id}: Server deleted outside ibdesk") == 1
    refused = next(r for r in received if "scheduled start" in r["title"])
    assert "refused the login" in refused["message"]


async def test_quiet_hours_hold_alerts_and_a_recovery_cancels_its_alert(
        rt: Runtime, webhook: tuple[list[Any], int]) -> None:
    from ibdesk.domain.alerts import Alert

    received, hook_port = webhook
    now = datetime.now().astimezone()
    start, end = (now - timedelta(hours=1)), (now + timedelta(hours=1))
    rt.settings = rt.settings.model_copy(
        update={"quiet_hours": f"{start:%H:%M}-{end:%H:%M}"})
    alerts = Alerts(rt)
    alerts.add(f"json://127.0.0.1:{hook_port}/hook/{CANARY}")
    alerts._dispatch([Alert(AlertKind.GATEWAY_DOWN, "ib-demo-00000001", "down")])
    alerts._dispatch([Alert(AlertKind.LOGIN_REFUSED, "ib-demo-00000002", "refused")])
    alerts._dispatch([Alert(AlertKind.GATEWAY_DOWN, "ib-demo-00000001", "back",
                            recovered=True)])
    await alerts.drain()
    assert received == []  # quiet
    assert [(a.kind, a.subject) for a in alerts.held] == [
        (AlertKind.LOGIN_REFUSED, "ib-demo-00000002")]  # the down-and-back said nothing
    assert alerts._release is not None  # waits for the quiet hours' end (an hour here)
    alerts._release.cancel()
    rt.settings = rt.settings.model_copy(update={"quiet_hours": None})
    await alerts._after(0)  # the end of the quiet hours, a second from now
    await alerts.drain()
    assert [r["title"] for r in received] == ["ibdesk: ib-demo-00000002: IBKR refused the login"]
