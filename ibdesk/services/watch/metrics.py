"""An optional Prometheus endpoint: what the monitor sees, for the trader's own
dashboards and alert rules (prometheus-client).

Off unless `metrics_port` (`IBDESK_METRICS_PORT`) is set; then served on 127.0.0.1 only,
by whatever runs the monitor (the window's monitor worker, `ibdesk watch`). Names and
units follow Prometheus' naming conventions (`_seconds`, `_total`, base units, a
`_dollars` unit for money). Accounts are labelled with their id and environment, never
the IBKR username: a dashboard may be shared.

Series (account_id, environment on every account series):
    ibdesk_account_status{status}              1 for the account's status, 0 for the rest
    ibdesk_account_authenticated, ibdesk_account_competing     1/0 from the last probe
    ibdesk_gateway_latency_seconds             histogram of probe round trips
    ibdesk_account_last_check_timestamp_seconds
    ibdesk_login_refusals_total                logins IBKR refused (the guard stopped IBeam)
    ibdesk_account_monthly_cost_dollars        what DigitalOcean bills a month for it
    ibdesk_digitalocean_requests_total, ibdesk_digitalocean_rate_limited_total
    ibdesk_digitalocean_ratelimit_remaining    the API's remaining budget, last seen
    ibdesk_monitor_cycle_duration_seconds      histogram
    ibdesk_probe_errors_total                  probes that got no answer
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ibdesk.domain.enums import ServerStatus
from ibdesk.domain.errors import InvalidInput

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from ibdesk.domain.models import Account
    from ibdesk.services.runtime import Runtime
    from ibdesk.services.watch.monitor import CycleStats, Monitor, StatusChange
    from ibdesk.store import StatusUpdate

log = logging.getLogger(__name__)

ACCOUNT = ("account_id", "environment")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self, rt: Runtime, registry: CollectorRegistry | None = None) -> None:
        # imported here: prometheus-client is 10 MB of a monitor's memory, and a monitor
        # only builds this when metrics_port is set (`serve_for`)
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self._rt = rt
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.status = Gauge("ibdesk_account_status", "1 for the account's current status",
                            [*ACCOUNT, "status"], registry=r)
        self.authenticated = Gauge("ibdesk_account_authenticated",
                                   "1 when the gateway is logged in to IBKR", ACCOUNT, registry=r)
        self.competing = Gauge("ibdesk_account_competing",
                               "1 when another session competes for the login", ACCOUNT,
                               registry=r)
        self.latency = Histogram("ibdesk_gateway_latency_seconds",
                                 "Round trip of a gateway probe", ACCOUNT,
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.last_check = Gauge("ibdesk_account_last_check_timestamp_seconds",
                                "When the account was last looked at (Unix time)", ACCOUNT,
                                registry=r)
        self.refusals = Counter("ibdesk_login_refusals", "Logins IBKR refused", ACCOUNT,
                                registry=r)
        self.cost = Gauge("ibdesk_account_monthly_cost_dollars",
                          "What DigitalOcean bills a month for the account's server", ACCOUNT,
                          registry=r)
        self.do_requests = Counter("ibdesk_digitalocean_requests",
                                   "Requests the monitor made to DigitalOcean, by the status "
                                   "code of the answer (\"none\": no answer)", ["code"],
                                   registry=r)
        self.rate_limited = Counter("ibdesk_digitalocean_rate_limited",
                                    "DigitalOcean requests answered 429", registry=r)
        self.ratelimit_remaining = Gauge("ibdesk_digitalocean_ratelimit_remaining",
                                         "DigitalOcean's remaining request budget, last seen",
                                         registry=r)
        self.cycle_seconds = Histogram("ibdesk_monitor_cycle_duration_seconds",
                                       "How long one monitor cycle took", registry=r,
                                       buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
        self.probe_errors = Counter("ibdesk_probe_errors", "Probes that got no answer",
                                    registry=r)
        self._accounts: dict[str, Account] = {}
        self._monitor: Monitor | None = None
        self._server: object | None = None

    # ------------------------------------------------------------------ serving
    def serve(self, port: int) -> int:
        """Serve on 127.0.0.1:`port` (0: any free port) from a thread; the port."""
        from prometheus_client import start_http_server

        server, _thread = start_http_server(port, addr="127.0.0.1", registry=self.registry)
        self._server = server
        bound = int(server.server_address[1])
        log.info("metrics for Prometheus on http://127.0.0.1:%d/metrics", bound)
        return bound

    def close(self) -> None:
        server = self._server
        if server is not None:
            server.shutdown()  # type: ignore[attr-defined]
            server.server_close()  # type: ignore[attr-defined]
            self._server = None

    # ------------------------------------------------------------------ watching
    def watch(self, monitor: Monitor) -> None:
        self._monitor = monitor
        monitor.subscribe(self._on_change)
        monitor.subscribe_cycles(self._on_cycle)
        monitor.subscribe_stats(self._on_stats)

    def _labels(self, account_id: str) -> tuple[str, str] | None:
        account = self._accounts.get(account_id)
        if account is None:  # a new account: read them all again (once per new one)
            self._accounts = {a.id: a for a in self._rt.repository.list_accounts()}
            account = self._accounts.get(account_id)
        return (account.id, account.environment.value) if account else None

    def _on_change(self, change: StatusChange) -> None:
        account = change.account
        self._accounts[account.id] = account
        if change.event.status is ServerStatus.ERROR and account.login_refused is not None:
            self.refusals.labels(account.id, account.environment.value).inc()

    def _on_cycle(self, updates: list[StatusUpdate]) -> None:
        for update in updates:
            labels = self._labels(update.account_id)
            if labels is None:
                continue
            for status in ServerStatus:
                self.status.labels(*labels, status.value).set(
                    1 if status is update.status else 0)
            self.last_check.labels(*labels).set(update.at.timestamp())
            price = self._accounts[update.account_id].price_monthly
            if price is not None:
                self.cost.labels(*labels).set(price)
            detail = update.detail
            if detail is None:
                continue
            if detail.authenticated is not None:
                self.authenticated.labels(*labels).set(1 if detail.authenticated else 0)
                self.competing.labels(*labels).set(1 if detail.competing else 0)
            if detail.latency_ms is not None:
                self.latency.labels(*labels).observe(detail.latency_ms / 1000)
            elif update.status is not ServerStatus.STOPPED:
                self.probe_errors.inc()

    def _on_stats(self, stats: CycleStats) -> None:
        self.cycle_seconds.observe(stats.seconds)
        for code, count in stats.do_answers.items():
            self.do_requests.labels(code).inc(count)
        self.rate_limited.inc(stats.rate_limited)
        if stats.ratelimit_remaining is not None:
            self.ratelimit_remaining.set(stats.ratelimit_remaining)


def serve_for(rt: Runtime, monitor: Monitor) -> Metrics | None:
    """The endpoint of the `metrics_port` setting for `monitor`, serving; None when the
    setting is unset. InvalidInput when the port is taken."""
    port = rt.settings.metrics_port
    if not port:
        return None
    metrics = Metrics(rt)
    try:
        metrics.serve(port)
    except OSError as exc:
        why = exc.strerror or str(exc)
        raise InvalidInput(
            f"The Prometheus metrics cannot be served on 127.0.0.1:{port} ({why}): another "
            "program uses that port. Set metrics_port (IBDESK_METRICS_PORT) to a free one.",
            field="metrics_port") from None
    metrics.watch(monitor)
    return metrics


__all__ = ["Metrics", "serve_for"]
