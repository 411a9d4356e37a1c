"""Alerts to where the trader looks: the Apprise URLs kept in the keyring, the incidents
of what the monitor sees (domain.alerts), each delivered off the event loop.

Who raises them: whatever runs a `Monitor` — the window's monitor worker and
`ibdesk watch` — through `Alerts.watch(monitor)`. The URLs are secrets (a Slack webhook
or an SMTP password is in them): one keyring entry holds them all, as JSON; they are
never in SQLite, logs, bundles, exceptions or command lines (`ibdesk alerts add` reads
one from standard input).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from ibdesk import notify
from ibdesk.domain.alerts import Alert, AlertKind, Held, Incidents, QuietHours
from ibdesk.domain.errors import InvalidInput
from ibdesk.secret_values import remember
from ibdesk.secrets import ALERT_URLS

if TYPE_CHECKING:
    from ibdesk.services.runtime import Runtime
    from ibdesk.services.watch.monitor import Monitor, StatusChange
    from ibdesk.services.watch.scheduler import Done, Scheduler

log = logging.getLogger(__name__)

SCHEDULE_ALERTS = {"failed": AlertKind.SCHEDULE_FAILED, "missed": AlertKind.SCHEDULE_FAILED,
                   "late": AlertKind.SCHEDULE_FAILED, "over_budget": AlertKind.BUDGET_EXCEEDED}
"""What the scheduler did (`Did`'s values) that is worth an alert."""



class Alerts:
    def __init__(self, rt: Runtime,
                 on_sent: Callable[[Alert, list[notify.Delivery]], None] | None = None) -> None:
        self._rt = rt
        self._incidents = Incidents()
        self._on_sent = on_sent
        self._sending: set[asyncio.Task[None]] = set()
        self._held = Held()
        self._release: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ where to
    def urls(self) -> list[str]:
        """The URLs (blocking: the keyring); every one marked secret for the log filter."""
        stored = self._rt.secrets.get(ALERT_URLS)
        urls = [u for u in json.loads(stored) if isinstance(u, str)] if stored else []
        for url in urls:
            remember(url)
        return urls

    def targets(self) -> list[str]:
        """What may be shown of each URL (its scheme and host), in order."""
        return [notify.describe(url) for url in self.urls()]

    def add(self, url: str) -> int:
        """Keep one more URL (checked with Apprise first); its number in `targets`."""
        url = url.strip()
        remember(url)
        notify.check_url(url)
        urls = self.urls()
        if url in urls:
            raise InvalidInput("That alert URL is already there.")
        urls.append(url)
        self._rt.secrets.set(ALERT_URLS, json.dumps(urls))
        return len(urls)

    def remove(self, number: int) -> str:
        """Forget target `number` (1-based, as `targets` lists them); what it was."""
        urls = self.urls()
        if not 1 <= number <= len(urls):
            raise InvalidInput(f"There is no alert target {number}; `ibdesk alerts list` "
                               "shows them.")
        gone = urls.pop(number - 1)
        if urls:
            self._rt.secrets.set(ALERT_URLS, json.dumps(urls))
        else:
            self._rt.secrets.delete(ALERT_URLS)
        return notify.describe(gone)

    # ------------------------------------------------------------------ sending
    async def send(self, alert: Alert) -> list[notify.Delivery]:
        """Deliver one alert to every target, on a worker thread."""
        def deliver() -> list[notify.Delivery]:
            urls = self.urls()
            return notify.send(urls, alert.title, alert.detail) if urls else []

        deliveries = await asyncio.to_thread(deliver)
        log.info("alert %s (%s%s): %d of %d delivered", alert.kind.value, alert.subject,
                 ", recovered" if alert.recovered else "",
                 sum(d.ok for d in deliveries), len(deliveries))
        if self._on_sent is not None:
            self._on_sent(alert, deliveries)
        return deliveries

    async def test(self) -> list[notify.Delivery]:
        deliveries = await self.send(Alert(
            AlertKind.TEST, "ibdesk", "This is a test: ibdesk's alerts reach you here."))
        if not deliveries:
            raise InvalidInput("No alert target yet: add one with `ibdesk alerts add` "
                               "(the Apprise URL on standard input).")
        return deliveries

    # ------------------------------------------------------------------ watching
    def watch(self, monitor: Monitor) -> None:
        """Raise alerts from what `monitor` sees, from now on."""
        monitor.subscribe(self._on_change)
        monitor.subscribe_degraded(self._on_degraded)

    def _on_change(self, change: StatusChange) -> None:
        account, event = change.account, change.event
        self._dispatch(self._incidents.account_seen(
            account.id, event.status, account.login_refused,
            f"{account.id} ({account.environment.value}): {event.reason}", event.reason))

    def _on_degraded(self, why: str | None) -> None:
        self._dispatch(self._incidents.monitoring_seen(why))

    def watch_scheduler(self, scheduler: Scheduler) -> None:
        """Alerts for what the schedules could not do (a failed or missed start) and
        for the budget; the rest of what they do is history and notifications."""
        scheduler.subscribe(self._on_scheduled)

    def _on_scheduled(self, done: Done) -> None:
        kind = SCHEDULE_ALERTS.get(done.did)
        if kind is not None:
            self._dispatch([Alert(kind, done.account_id, done.message)])

    def _quiet_left(self) -> float:
        quiet = QuietHours.parse(self._rt.settings.quiet_hours)
        return quiet.seconds_left(datetime.now().astimezone()) if quiet else 0.0

    def _dispatch(self, alerts: list[Alert]) -> None:
        left = self._quiet_left()
        if left > 0:
            for alert in alerts:
                self._held.hold(alert)
            if alerts and (self._release is None or self._release.done()):
                self._release = asyncio.get_running_loop().create_task(self._after(left))
            return
        for alert in alerts:
            task = asyncio.get_running_loop().create_task(self._deliver(alert))
            self._sending.add(task)  # kept until sent (the loop holds tasks weakly)
            task.add_done_callback(self._sent)

    async def _after(self, seconds: float) -> None:
        """The quiet hours' end: what was held goes out, in order."""
        await asyncio.sleep(seconds + 1)
        held = self._held.release()
        if held:
            log.info("quiet hours over: sending %d held alert(s)", len(held))
            self._dispatch(held)

    @property
    def held(self) -> list[Alert]:
        return list(self._held.alerts)

    async def _deliver(self, alert: Alert) -> None:
        await self.send(alert)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("an alert could not be sent: %s", task.exception())

    async def drain(self) -> None:
        """Wait for the alerts under way (before the process ends)."""
        while self._sending:
            await asyncio.gather(*list(self._sending), return_exceptions=True)


__all__ = ["ALERT_URLS", "Alerts"]
