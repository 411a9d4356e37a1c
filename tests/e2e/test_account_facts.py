"""What ibdesk knows about an account's server cannot be undone by a stale copy (issue 13,
point 5), on the sandbox.

Until schema 0004 the refused-login mark, the host-key pin, "IBeam started" and the
active/unhealthy times lived in one JSON bag rewritten whole by whoever held a copy; each
fact is now its own column, changed alone, and the pin names the droplet it belongs to.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ibdesk.domain.enums import ServerStatus
from ibdesk.domain.errors import GatewayError
from ibdesk.domain.models import Account, IBeamVerdict, OperationState
from ibdesk.sandbox import Sandbox
from ibdesk.services import Runtime
from ibdesk.services.control.credentials import change_password
from ibdesk.services.remote import RemoteAccess
from ibdesk.services.watch.monitor import Monitor, MonitorConfig
from ibdesk.services.watch.status import StatusService
from tests.helpers.e2e import cycle_until, provisioner, request


async def test_a_new_password_during_a_monitor_cycle_is_not_undone(sandbox: Sandbox,
                                                                   rt: Runtime) -> None:
    """The cycle read the account while the refusal was on record; the trader's new
    password arrives while the cycle looks at the server. The cycle's write must neither
    bring the refusal back (the guard would then refuse every start for ever) nor record
    the old refusal as the status the new password just replaced."""
    account = await provisioner(rt).connect(request("paper"))
    rt.repository.update_account(account.id, login_refused=IBeamVerdict.PASSWORD_REFUSED)
    monitor = Monitor(rt, MonitorConfig(fast_interval=0.1, slow_interval=0.1))
    look = monitor._look
    given: list[str] = []

    async def look_while_the_password_changes(seen: Account, health: Any, stats: Any) -> Any:
        assert seen.login_refused is IBeamVerdict.PASSWORD_REFUSED  # the stale copy
        if not given:
            await change_password(rt, seen.id, "p@per'pa$$")
            given.append(seen.id)
        return await look(seen, health, stats)

    monitor._look = look_while_the_password_changes  # type: ignore[method-assign]
    try:
        await monitor.cycle(force=True)
        now = rt.repository.require_account(account.id)
        assert given and now.login_refused is None
        assert now.do_server_status is ServerStatus.INITIALIZING  # the new password's line
        assert "refused" not in rt.repository.history(account.id)[-1].reason
        monitor._look = look  # type: ignore[method-assign]
        # and the next cycles, which read the row afresh, carry on
        later = await cycle_until(monitor, rt, account.id,
                                  lambda a: a.do_server_status is ServerStatus.RUNNING)
        assert later.do_server_status is ServerStatus.RUNNING
    finally:
        await monitor.close()


async def test_no_new_key_is_trusted_once_the_login_was_delivered(sandbox: Sandbox,
                                                                 rt: Runtime) -> None:
    """A lost pin (a restored backup, a hand-edited file) after IBeam was given the login
    must not turn into trust-on-first-use: that first connection could be an impostor's."""
    account = await provisioner(rt).connect(request("paper"))
    assert account.ssh_host_key and account.ssh_host_key_droplet_id == account.do_droplet_id
    lost = rt.repository.update_account(account.id, ssh_host_key=None,
                                        ssh_host_key_droplet_id=None)
    with pytest.raises(GatewayError, match="no SSH host key on record"):
        async with RemoteAccess(rt).open(lost):
            pass
    report = await StatusService(rt).check(account.id)  # `ibdesk status ID`, the same
    assert report.health is not None and not report.health.reachable
    assert "no SSH host key on record" in (report.health.error or "")
    assert rt.repository.require_account(account.id).ssh_host_key is None


async def test_a_resume_that_makes_a_new_server_pins_that_servers_key(sandbox: Sandbox,
                                                                     rt: Runtime) -> None:
    """The old droplet's pin is not the new droplet's: checking the new server against it
    said "someone may be intercepting the connection" and left the account stuck."""
    account = await provisioner(rt).connect(request("paper"))
    old_droplet, old_pin = account.do_droplet_id or 0, account.ssh_host_key
    done = rt.repository.operations(states=(OperationState.DONE,), account_id=account.id)
    (op,) = [o for o in done if o.kind == "connect"]
    rt.repository.update_operation(op.request_tag, state=OperationState.FAILED,
                                   error="stopped to test")
    sandbox.world.vanish(old_droplet)
    resumed = await provisioner(rt).resume(account.id)
    assert resumed.do_server_status is ServerStatus.RUNNING
    assert resumed.do_droplet_id not in (None, old_droplet)
    assert resumed.ssh_host_key_droplet_id == resumed.do_droplet_id
    assert resumed.ssh_host_key and resumed.ssh_host_key != old_pin


async def test_monitor_cycles_never_overlap(sandbox: Sandbox, rt: Runtime) -> None:
    """A refresh during a cycle waits for it: two at once read the same rows and wrote their
    results over each other's."""
    await provisioner(rt).connect(request("paper"))
    monitor = Monitor(rt, MonitorConfig(fast_interval=0.1, slow_interval=0.1))
    inner = monitor._cycle
    running, most = 0, 0

    async def counted(**kwargs: Any) -> Any:
        nonlocal running, most
        running += 1
        most = max(most, running)
        try:
            await asyncio.sleep(0.05)
            return await inner(**kwargs)
        finally:
            running -= 1

    monitor._cycle = counted  # type: ignore[method-assign]
    try:
        account_id = rt.repository.list_accounts()[0].id
        await asyncio.gather(monitor.cycle(force=True), monitor.refresh(account_id),
                             monitor.cycle(force=True))
        assert most == 1
    finally:
        await monitor.close()
