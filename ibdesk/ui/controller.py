"""The window's single link to the services: plain coroutines in, Qt signals out.

Widgets never touch the store, httpx or asyncssh: they call the coroutines here (from
thin `@asyncSlot`s) and listen to the signals. The monitor runs as an asyncio task on
its own process (ui.monitor_process, ibdesk monitor-worker); its changes arrive on the
window's loop as `status_changed`.

Signals:
    status_changed(object): a StatusChange (an account's status changed)
    cycle_finished(object): a chunk of a monitor cycle's StatusUpdates (a hundred at most)
    cycle_ended(): the cycle's last chunk came
    accounts_changed(): an account was added or removed
    action_started(str, str): account id, action name
    action_finished(str, str, str): account id, action name, error text ('' when it worked)
    tunnel_changed(str, int): account id, local port (0 when closed)
    message_posted(str, str): level ('info' | 'warning' | 'error'), text
    monitoring_changed(str): why monitoring is degraded ('' when it is whole again)
    schedule_done(object): a scheduler `Done` (a server brought up or down, a warning)
    costs_changed(object): the month's `CostSummary`, after each schedule tick
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from ibdesk.domain.actions import ServerAction
from ibdesk.domain.cadence import CADENCE
from ibdesk.domain.errors import IbdeskError
from ibdesk.domain.models import Account, StatusDetail, StatusEvent
from ibdesk.services.runtime import Runtime

if TYPE_CHECKING:
    from ibdesk.domain.diagnosis import CheckResult, FixAction
    from ibdesk.services.connect.catalogue import Catalogue, ServerPlan
    from ibdesk.services.connect.provisioner import ConnectRequest, Progress
    from ibdesk.services.control.tunnel import KeptTunnel
    from ibdesk.services.watch.monitor import MonitorConfig
    from ibdesk.services.watch.reconciler import ReconcileReport
    from ibdesk.ui.monitor_process import MonitorProcess

# The services below are imported where first used: the window paints its accounts
# before SSH, HTTP and the provisioning code are loaded (start-up time).

log = logging.getLogger(__name__)


class Controller(QObject):
    status_changed = Signal(object)
    cycle_finished = Signal(object)
    cycle_ended = Signal()
    accounts_changed = Signal()
    action_started = Signal(str, str)
    action_finished = Signal(str, str, str)
    tunnel_changed = Signal(str, int)
    message_posted = Signal(str, str)
    monitoring_changed = Signal(str)
    schedule_done = Signal(object)
    costs_changed = Signal(object)

    def __init__(self, rt: Runtime, monitor_config: MonitorConfig | None = None) -> None:
        super().__init__()
        self.rt = rt
        self._monitor_config = monitor_config
        self._monitor: MonitorProcess | None = None
        self.busy: dict[str, str] = {}
        """Account id → the action running on it."""
        self._monitor_task: asyncio.Task[None] | None = None
        self._scheduler_task: asyncio.Task[None] | None = None
        self._scheduler_stop = asyncio.Event()
        self._closed = False
        self._tunnels: dict[str, KeptTunnel] = {}
        self._tunnel_ports: dict[str, int] = {}
        self._tunnel_said: dict[str, str] = {}
        self.degraded: str | None = None
        """Why monitoring is degraded now (the monitor cannot ask DigitalOcean), or None."""

    @property
    def monitor(self) -> MonitorProcess:
        """The monitor, in a process of its own (ibdesk monitor-worker): its sockets and
        its CPU work never touch the window's loop or its GIL; its results arrive here on
        the window's loop."""
        if self._monitor is None:
            from ibdesk.ui.monitor_process import MonitorProcess

            settings = self.rt.settings
            config = self._monitor_config
            self._monitor = MonitorProcess(
                self.rt, steady=config.slow_interval if config else settings.check_interval,
                error=config.error_interval if config else settings.check_interval_error,
                fast=config.fast_interval if config else CADENCE.fast)
            self._monitor.subscribe(self._on_change)
            self._monitor.subscribe_cycles(self._on_cycle)
            self._monitor.subscribe_cycle_ends(self._on_cycle_end)
            self._monitor.subscribe_degraded(self._on_degraded)
        return self._monitor

    @property
    def sandbox(self) -> Any:
        return self.rt.sandbox

    # ------------------------------------------------------------------ life
    def start_monitor(self) -> None:
        """Reconcile, then watch, as a task on the window's loop."""
        if self._monitor_task is None:
            self._monitor_task = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        # The reconciler brings the cloud client, SSH and the lifecycle with it (≈0.6 s of
        # imports): loaded on a worker thread, so the window paints and answers meanwhile.
        await asyncio.to_thread(importlib.import_module, "ibdesk.services.watch.reconciler")
        from ibdesk.services.watch.reconciler import Reconciler

        try:
            report = await Reconciler(self.rt).run()
            self._say_reconcile(report)
        except IbdeskError as exc:
            self.message_posted.emit("warning", exc.user_message)
        if not self._closed:
            try:
                await self.restore_tunnels()
            except IbdeskError as exc:
                self.message_posted.emit("warning", exc.user_message)
        if not self._closed:
            await self.monitor.watch()
        if not self._closed and self._scheduler_task is None:
            self._scheduler_task = asyncio.ensure_future(self._run_schedules())

    async def _run_schedules(self) -> None:
        """The schedules run while the window (or its tray icon) runs: on this loop, as a
        person's actions do (a rebuild needs the login from the keyring, which the monitor
        worker is never handed). Schedule failures and the budget raise alerts here."""
        from ibdesk.services.watch.alerts import Alerts
        from ibdesk.services.watch.costs import cost_summary
        from ibdesk.services.watch.scheduler import TICK, Scheduler

        scheduler = Scheduler(self.rt)
        scheduler.subscribe(self._on_scheduled)
        Alerts(self.rt).watch_scheduler(scheduler)
        while not self._scheduler_stop.is_set():
            try:
                await scheduler.tick()
                self.costs_changed.emit(await cost_summary(self.rt))
            except IbdeskError as exc:
                log.warning("schedule tick failed: %s", exc.user_message)
            except Exception:
                log.exception("schedule tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._scheduler_stop.wait(), TICK)

    def _on_scheduled(self, done: Any) -> None:
        if not self._closed:
            self.schedule_done.emit(done)
            self.accounts_changed.emit()

    def _say_reconcile(self, report: ReconcileReport) -> None:
        for account_id in report.finished:
            self.message_posted.emit("info", f"Finished connecting {account_id} after a restart.")
        if report.rolled_back or report.deleted or report.adopted:
            self.accounts_changed.emit()
        for account_id in report.adopted:
            self.message_posted.emit(
                "warning", f"Found the server the failed connect of {account_id} made; it is "
                "shown on the account now. Retry the connect, or delete the account.")
        mine = [o for o in report.orphans if o.deletable_unnamed]
        others = [o for o in report.orphans if not o.deletable_unnamed]
        if mine:
            cost = sum(o.price_monthly for o in mine)
            self.message_posted.emit(
                "warning", f"{len(mine)} server(s) this ibdesk made belong to no account and "
                f"cost ${cost:g}/month. `ibdesk orphans --delete` removes them.")
        if others:
            cost = sum(o.price_monthly for o in others)
            self.message_posted.emit(
                "info", f"{len(others)} ibdesk server(s) on this DigitalOcean account are not "
                f"this installation's (${cost:g}/month); `ibdesk orphans` lists them.")

    async def close(self) -> None:
        """Stop the monitor and tunnels, close the store; a second call does nothing."""
        if self._closed:
            return
        self._closed = True
        tunnels = list(self._tunnels.values())
        self._tunnels.clear()
        closing = [asyncio.ensure_future(t.close()) for t in tunnels]
        self._scheduler_stop.set()
        if self._scheduler_task is not None and not self._scheduler_task.done():
            # a rebuild under way is an operation of its own: the next start carries it on
            self._scheduler_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._scheduler_task
        if self._monitor_task is not None:
            if not self._monitor_task.done():
                self._monitor_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._monitor_task
        if self._monitor is not None:
            await self._monitor.close()
        for task in closing:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=10)
        self.rt.close()

    def _on_change(self, change: Any) -> None:
        if not self._closed:
            self.status_changed.emit(change)

    def _on_degraded(self, why: str | None) -> None:
        self.degraded = why
        if not self._closed:
            self.monitoring_changed.emit(why or "")

    def _on_cycle(self, updates: list[Any]) -> None:
        if self._closed:
            return
        self.cycle_finished.emit(updates)  # the window's table model keeps the latency

    def _on_cycle_end(self) -> None:
        if not self._closed:
            self.cycle_ended.emit()

    # ------------------------------------------------------------------ reading
    async def accounts(self) -> list[tuple[Account, StatusDetail | None]]:
        # rt.store: the store is opened (SQLAlchemy imported) on the worker thread too
        return await self.rt.store.list_accounts_with_details()

    async def account(self, account_id: str) -> tuple[Account, StatusDetail | None] | None:
        rt = self.rt

        def load() -> tuple[Account, StatusDetail | None] | None:
            repo = rt.repository
            account = repo.get_account(account_id)
            return (account, repo.status_detail(account_id)) if account else None

        return await asyncio.to_thread(load)

    async def history(self, account_id: str, limit: int = 50) -> list[StatusEvent]:
        return await self.rt.store.history(account_id, limit)

    async def has_token(self) -> bool:
        from ibdesk.services.token import TokenService

        return bool(await asyncio.to_thread(TokenService(self.rt).stored))

    async def set_token(self, token: str) -> Any:
        from ibdesk.services.token import TokenService

        account = await TokenService(self.rt).set(token)
        if self._monitor is not None:
            with contextlib.suppress(IbdeskError):
                await self._monitor.sync_secrets()
        return account

    async def catalogue(self) -> Catalogue:
        from ibdesk.services.connect.catalogue import load_catalogue

        return await load_catalogue(self.rt)

    async def plan_server(self, region: str, size: str, image: str | None) -> ServerPlan:
        """What a connect will really use, checked with DigitalOcean (InvalidInput with what
        to pick instead when it would be refused)."""
        from ibdesk.services.connect.catalogue import plan

        return await plan(self.rt, region, size, image)

    # ------------------------------------------------------------------ doing
    async def refresh(self, account_id: str) -> None:
        await self.monitor.refresh(account_id)

    async def refresh_all(self) -> None:
        """Check every account now (a forced monitor cycle)."""
        await self.monitor.cycle(force=True)

    async def unfinished_connects(self) -> set[str]:
        """Accounts whose connect is pending or failed (Resume carries it on)."""
        from ibdesk.domain.models import OperationState

        ops = await self.rt.store.operations(states=(OperationState.PENDING,
                                                      OperationState.FAILED))
        return {op.account_id for op in ops if op.kind == "connect"}

    async def connect_account(self, request: ConnectRequest,
                              on_progress: Callable[[Progress], None]) -> Account:
        from ibdesk.services.connect.provisioner import Provisioner

        provisioner = Provisioner(self.rt, on_progress=on_progress)
        try:
            account = await provisioner.connect(request)
        finally:
            if self._monitor is not None:  # the first connect makes the SSH key
                with contextlib.suppress(IbdeskError):
                    await self._monitor.sync_secrets()
            self.accounts_changed.emit()
        self.message_posted.emit("info", f"{account.id} is running.")
        return account

    async def resume(self, account_id: str, password: str | None,
                     on_progress: Callable[[Progress], None]) -> Account:
        """Carry an unfinished connect on (with the password given again after IBKR refused
        it), with its progress."""
        from ibdesk.services.connect.provisioner import Provisioner

        provisioner = Provisioner(self.rt, on_progress=on_progress)
        try:
            account = await provisioner.resume(account_id, new_password=password)
        finally:
            self.accounts_changed.emit()
        self.message_posted.emit("info", f"{account.id} is running.")
        return account

    async def run_action(self, account_id: str, action: str) -> bool:
        """start / stop / restart / delete / resume, with signals before and after."""
        if account_id in self.busy:
            return False
        self.busy[account_id] = action
        self.action_started.emit(account_id, action)
        error = ""
        try:
            from ibdesk.services.control.lifecycle import Lifecycle

            wanted = ServerAction(action)
            if wanted is ServerAction.RESUME:
                from ibdesk.services.connect.provisioner import Provisioner

                await Provisioner(self.rt).resume(account_id)
            elif wanted is ServerAction.DELETE:
                await Lifecycle(self.rt).delete(account_id)
            else:
                await Lifecycle(self.rt).power(wanted, account_id)
            if action == "delete":
                await self.close_tunnel(account_id, forget=False)
                self.accounts_changed.emit()
            else:
                await self.monitor.refresh(account_id)
        except IbdeskError as exc:
            error = exc.user_message
        finally:
            self.busy.pop(account_id, None)
            self.action_finished.emit(account_id, action, error)
        return not error

    async def change_password(self, account_id: str, password: str) -> None:
        from ibdesk.services.control.credentials import change_password

        await change_password(self.rt, account_id, password)
        await self.monitor.refresh(account_id)

    def _tunnel_events(self, account_id: str) -> Callable[[Any], None]:
        from ibdesk.services.control.tunnel import TunnelState

        def on_event(event: Any) -> None:
            if self._closed or account_id not in self._tunnels:
                return
            up = event.state is TunnelState.UP
            if up:
                self._tunnel_ports[account_id] = event.port
                self._tunnel_said.pop(account_id, None)
            else:
                self._tunnel_ports.pop(account_id, None)
                # said once per new reason, not at every retry of a server that boots
                if self._tunnel_said.get(account_id) != event.message:
                    self._tunnel_said[account_id] = event.message
                    self.message_posted.emit("warning", f"{account_id}: {event.message}")
            self.tunnel_changed.emit(account_id, event.port if up else 0)

        return on_event

    async def open_tunnel(self, account_id: str, port: int | None = None) -> int:
        """Open the account's tunnel on its own local port and keep it: when its connection
        is lost (a restart, a network change) `tunnel_changed` says port 0 and it comes back
        on the same port. Never another port: when a program holds it, this raises what to
        do. The trader's choice is remembered: the app reopens it when it starts again."""
        if account_id in self._tunnels:
            return 0
        from ibdesk.services.control.tunnel import KeptTunnel

        tunnel = KeptTunnel(self.rt, account_id, port, on_event=self._tunnel_events(account_id))
        self._tunnels[account_id] = tunnel
        try:
            bound = await tunnel.start()
        except BaseException:
            self._tunnels.pop(account_id, None)
            raise
        self._tunnel_ports[account_id] = bound
        self.tunnel_changed.emit(account_id, bound)
        await self._remember_tunnel(account_id, True)
        return bound

    async def _remember_tunnel(self, account_id: str, keep: bool) -> None:
        with contextlib.suppress(IbdeskError):  # the account may be gone (deleted)
            await self.rt.store.update_account(account_id, keep_tunnel=keep)

    async def restore_tunnels(self) -> list[str]:
        """Reopen the tunnels the trader had open when the app last ran (their servers may
        still be booting: each comes up when its server answers)."""
        from ibdesk.services.control.tunnel import KeptTunnel

        accounts = [a for a, _ in await self.accounts() if a.keep_tunnel]
        restored = []
        for account in accounts:
            if self._closed or account.id in self._tunnels:
                continue
            tunnel = KeptTunnel(self.rt, account.id, on_event=self._tunnel_events(account.id))
            self._tunnels[account.id] = tunnel
            try:
                await tunnel.start(first_must_work=False)
            except IbdeskError as exc:
                self._tunnels.pop(account.id, None)
                self.message_posted.emit("warning", f"{account.id}: {exc.user_message}")
                continue
            restored.append(account.id)
            self.tunnel_changed.emit(account.id, 0)
        return restored

    async def close_tunnel(self, account_id: str, *, forget: bool = True) -> None:
        """Close the tunnel; `forget`: the trader closed it, so it stays closed next time."""
        tunnel = self._tunnels.pop(account_id, None)
        if tunnel is not None:
            await tunnel.close()
            self._tunnel_ports.pop(account_id, None)
            self.tunnel_changed.emit(account_id, 0)
        if forget:
            await self._remember_tunnel(account_id, False)

    async def set_local_port(self, account_id: str, port: int) -> Account:
        """Give the account another local port; an open tunnel moves to it at once."""
        from ibdesk.services.control import local_port

        reopen = account_id in self._tunnels
        account = await local_port.change(self.rt, account_id, port,
                                          tunnel_open_on=self.open_tunnels().get(account_id, 0))
        if reopen and self.open_tunnels().get(account_id) != port:
            await self.close_tunnel(account_id, forget=False)
            try:
                await self.open_tunnel(account_id)
            except IbdeskError as exc:
                self.message_posted.emit("warning", f"{account_id}: {exc.user_message}")
        self.accounts_changed.emit()
        return account

    async def check_local_port(self, port: int, account_id: str | None = None) -> None:
        """InvalidInput with what to do when the port cannot be the account's (None: a new
        account's): another account's first, then held by a program here."""
        from ibdesk.services.control import local_port

        await local_port.check(self.rt, port, account_id,
                               tunnel_open_on=self.open_tunnels().get(account_id or "", 0))

    async def connect_preview(self, username: str, environment: Any,
                              on_cloud: Sequence[str] = ()) -> tuple[str, list[Account]]:
        """The droplet name a connect would give now (`on_cloud`: the names DigitalOcean
        has), and the accounts that already use this IBKR username (two gateways of one
        login log each other out at IBKR)."""
        from ibdesk.domain.naming import next_droplet_name

        rt = self.rt

        def read() -> tuple[str, list[Account]]:
            repo = rt.repository  # opened here, on the worker thread, if not yet
            name = next_droplet_name(username, environment, [*repo.droplet_names(), *on_cloud])
            same = [a for a in repo.list_accounts()
                    if a.username.casefold() == username.casefold()]
            return name, same

        return await asyncio.to_thread(read)

    async def suggest_local_port(self) -> int:
        from ibdesk.services.control import local_port

        return await asyncio.to_thread(local_port.suggest, self.rt)

    # ------------------------------------------------------------------ support
    async def diagnose(self, account_id: str | None,
                       on_result: Callable[[CheckResult], None]) -> list[CheckResult]:
        """Run the doctor's checks, handing each result over as it finishes."""
        from ibdesk.services.support.doctor import Doctor

        results = []
        async for result in Doctor(self.rt).run(account_id):
            results.append(result)
            on_result(result)
        return results

    async def apply_fix(self, action: FixAction, account_id: str | None) -> str:
        from ibdesk.services.support.doctor import Doctor

        said = await Doctor(self.rt).apply(action, account_id)
        if account_id is not None:
            with contextlib.suppress(IbdeskError):
                await self.monitor.refresh(account_id)
        return said

    async def ibeam_log(self, account_id: str, lines: int = 500) -> list[str]:
        """IBeam's last output lines on the account's server."""
        from ibdesk.services.support import ibeam_logs

        return await ibeam_logs.container_log(self.rt, account_id, lines)

    async def write_bundle(self, account_id: str | None, path: Path, *,
                           include_username: bool = False) -> Path:
        from ibdesk.services.support.bundle import BundleBuilder

        report = await BundleBuilder(self.rt, include_username=include_username).build(
            account_id, path)
        return report.path

    # ------------------------------------------------------------------ schedules, money
    async def schedule_view(self, account_id: str) -> Any:
        from ibdesk.services.control.schedules import Schedules

        return await Schedules(self.rt).show(account_id)

    async def set_schedule(self, account_id: str, schedule: Any) -> Any:
        """Keep the schedule; the next tick (now) carries it out."""
        from ibdesk.services.control.schedules import Schedules

        view = await Schedules(self.rt).set(account_id, schedule)
        self.accounts_changed.emit()
        if view.account.parked is not None and not view.schedule.scheduled:
            # always on now: the server its schedule parked comes back (the row shows it)
            from ibdesk.ui.tasks import spawn

            spawn(self.run_action(account_id, ServerAction.START.value))
        return view

    async def cost_summary(self) -> Any:
        from ibdesk.services.watch.costs import cost_summary

        return await cost_summary(self.rt)

    async def report(self, days: float) -> Any:
        from ibdesk.services.support.report import build_report

        return await build_report(self.rt, days=days)

    # ------------------------------------------------------------------ settings
    def keyring_backend(self) -> str:
        return self.rt.secrets.backend_name

    # ------------------------------------------------------------------ alerts
    async def alert_targets(self) -> list[str]:
        """Where alerts go, as may be shown (scheme and host), read off the Qt thread."""
        from ibdesk.services.watch.alerts import Alerts

        return await asyncio.to_thread(Alerts(self.rt).targets)

    async def add_alert_target(self, url: str) -> int:
        from ibdesk.services.watch.alerts import Alerts

        number = await asyncio.to_thread(Alerts(self.rt).add, url)
        await self._hand_alerts_over()
        return number

    async def remove_alert_target(self, number: int) -> str:
        from ibdesk.services.watch.alerts import Alerts

        gone = await asyncio.to_thread(Alerts(self.rt).remove, number)
        await self._hand_alerts_over()
        return gone

    async def test_alert(self) -> list[tuple[str, bool]]:
        """A test alert to every target: (target, delivered) each."""
        from ibdesk.notify import describe
        from ibdesk.services.watch.alerts import Alerts

        return [(describe(d.url), d.ok) for d in await Alerts(self.rt).test()]

    async def _hand_alerts_over(self) -> None:
        """The monitor worker raises the alerts: it gets the new targets now."""
        if self._monitor is not None:
            with contextlib.suppress(IbdeskError):
                await self._monitor.sync_secrets()

    async def save_settings(self, changes: dict[str, Any]) -> None:
        """Write the changes to settings.toml and apply them now (new cadence included).
        New defaults for servers are checked with DigitalOcean first: an unknown region or
        size was saved, and the wizard then quietly picked another region."""
        from ibdesk.config import save_settings

        if {"region", "size", "demo_size", "image_id"} & set(changes) and \
                await self.has_token():
            from ibdesk.domain.errors import InvalidInput
            from ibdesk.services.connect.catalogue import plan

            settings = self.rt.settings
            region = str(changes.get("region", settings.region))
            image = changes.get("image_id", settings.image_id) or None
            for key in ("size", "demo_size"):
                try:
                    await plan(self.rt, region, str(changes.get(key, getattr(settings, key))),
                               image)
                except InvalidInput as exc:
                    label = "Size for demo" if key == "demo_size" else "Region and size"
                    raise InvalidInput(f"{label}: {exc.user_message} Nothing was saved.") \
                        from None

        self.rt.settings = await asyncio.to_thread(save_settings, self.rt.settings, changes)
        if self._monitor is not None:
            self._monitor.set_intervals(steady=self.rt.settings.check_interval,
                                        error=self.rt.settings.check_interval_error)
        self.message_posted.emit("info", "Settings saved.")

    def open_tunnels(self) -> dict[str, int]:
        """Every kept tunnel: account id → its local port (up or being reopened)."""
        return {account_id: tunnel.port for account_id, tunnel in self._tunnels.items()}

    def tunnel_waiting(self, account_id: str) -> int:
        """The local port of the account's tunnel while it is down and being reopened, 0
        when it is up or there is none."""
        tunnel = self._tunnels.get(account_id)
        if tunnel is None or account_id in self._tunnel_ports:
            return 0
        return tunnel.port

    def tunnel_port(self, account_id: str) -> int:
        """The local port of the account's open tunnel, 0 when none is open."""
        return self._tunnel_ports.get(account_id, 0)


__all__ = ["Controller"]
