"""Monitoring degraded, not stopped (issue 13, point 6), on the sandbox.

A revoked token or a DigitalOcean outage stopped every gateway probe silently: the last
check time froze, the failed-login guard stopped with it, and nobody was told. Now the
monitor goes on from the last droplet list, says "monitoring degraded: why" to its
listeners (the window's banner and tray, `ibdesk watch`), and says when it is whole again.
"""

from __future__ import annotations

from ibdesk.domain.enums import ServerStatus
from ibdesk.domain.models import IBeamVerdict
from ibdesk.sandbox import IBKRUser, Sandbox
from ibdesk.services import Runtime
from ibdesk.services.watch.monitor import Monitor, MonitorConfig
from tests.helpers.e2e import cycle_until, provisioner, request


def _change_password_at_ibkr(sandbox: Sandbox, droplet_id: int) -> None:
    """The trader changed the password on IBKR's site; the session ends; IBeam tries the
    old one at its next login."""
    sandbox.users._users["paperjane"] = IBKRUser("paperjane", "changed-at-ibkr")
    sandbox.host(droplet_id).ibeam.set_faults(session_reset=True)


async def test_a_revoked_token_keeps_probes_and_the_guard_going(sandbox: Sandbox,
                                                                rt: Runtime) -> None:
    account = await provisioner(rt).connect(request("paper"))
    droplet_id = account.do_droplet_id or 0
    monitor = Monitor(rt, MonitorConfig(fast_interval=0.1, slow_interval=0.1,
                                        error_interval=0.1))
    said: list[str | None] = []
    monitor.subscribe_degraded(said.append)
    tokens = list(sandbox.world.config.tokens)
    try:
        await monitor.cycle(force=True)
        assert monitor.degraded is None and said == []
        checked = rt.repository.require_account(account.id).do_last_status_check
        sandbox.world.config.tokens.clear()  # revoked in DigitalOcean's control panel
        _change_password_at_ibkr(sandbox, droplet_id)
        now = await cycle_until(monitor, rt, account.id, lambda a: a.login_refused)
        assert said and said[0] and "refused the API token" in said[0]
        assert "Gateways are still checked" in said[0]
        assert now.login_refused is IBeamVerdict.PASSWORD_REFUSED  # the guard still fired
        assert sandbox.host(droplet_id).ibeam.state == "exited"
        assert sandbox.ibkr.passwords_refused == 1  # stopped before IBeam's second try
        assert now.do_server_status is ServerStatus.ERROR
        assert now.do_last_status_check is not None and checked is not None
        assert now.do_last_status_check > checked  # the check time did not freeze
        sandbox.world.config.tokens.extend(tokens)  # a new token set
        await monitor.cycle(force=True)
        assert monitor.degraded is None and said[-1] is None
    finally:
        sandbox.world.config.tokens[:] = tokens
        await monitor.close()


async def test_an_outage_is_said_and_statuses_still_written(sandbox: Sandbox,
                                                            rt: Runtime) -> None:
    account = await provisioner(rt).connect(request("paper"))
    monitor = Monitor(rt)
    try:
        await monitor.cycle(force=True)
        checked = rt.repository.require_account(account.id).do_last_status_check
        sandbox.world.faults.error_rate = 1.0  # every DigitalOcean call answers 500
        stats, _ = await monitor.cycle(force=True)
        assert monitor.degraded and "DigitalOcean does not answer" in monitor.degraded
        assert stats.probes == 1 and not stats.listed
        now = rt.repository.require_account(account.id)
        assert now.do_server_status is ServerStatus.RUNNING  # from the last list
        assert now.do_last_status_check is not None and checked is not None
        assert now.do_last_status_check > checked
        sandbox.world.faults.error_rate = 0.0
        await monitor.cycle(force=True)
        assert monitor.degraded is None
    finally:
        sandbox.world.faults.error_rate = 0.0
        await monitor.close()


async def test_a_monitor_started_without_a_working_token_still_guards(sandbox: Sandbox,
                                                                     rt: Runtime) -> None:
    """No droplet list at all (the window restarted after the token was revoked): the
    servers' states are unknown and left as they were, but a refused login is stopped."""
    account = await provisioner(rt).connect(request("paper"))
    droplet_id = account.do_droplet_id or 0
    tokens = list(sandbox.world.config.tokens)
    sandbox.world.config.tokens.clear()
    _change_password_at_ibkr(sandbox, droplet_id)
    monitor = Monitor(rt, MonitorConfig(fast_interval=0.1, slow_interval=0.1,
                                        error_interval=0.1))
    try:
        await cycle_until(monitor, rt, account.id, lambda a: a.login_refused)
        assert monitor.degraded and "refused the API token" in monitor.degraded
        assert rt.repository.require_account(account.id).login_refused is \
            IBeamVerdict.PASSWORD_REFUSED
        assert sandbox.host(droplet_id).ibeam.state == "exited"
        assert sandbox.ibkr.passwords_refused == 1
    finally:
        sandbox.world.config.tokens[:] = tokens
        await monitor.close()
