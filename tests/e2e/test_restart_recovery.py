"""Honest status after a restart (issue 14, point 1), on the sandbox.

After Restart the account stayed "Starting — IBeam's health server does not answer" and
then turned to "Error — the gateway has not answered for 12 minutes" while Diagnose
passed: the monitor kept the SSH session the reboot had killed (its probe error said
"not running", which kept the session), and the grace period counted from the droplet's
first activation, not from the boot.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from ibdesk.domain.enums import ServerStatus
from ibdesk.sandbox import Sandbox
from ibdesk.services import Runtime
from ibdesk.services.control.lifecycle import Lifecycle
from ibdesk.services.watch.monitor import Monitor, MonitorConfig
from tests.helpers.e2e import provisioner, request


async def test_a_restart_comes_back_to_running_without_a_false_error(sandbox: Sandbox,
                                                                     rt: Runtime) -> None:
    account = await provisioner(rt).connect(request("paper"))
    # connected long ago: the droplet first became active 20 minutes back
    rt.repository.update_account(account.id,
                                 active_since=datetime.now(UTC) - timedelta(minutes=20))
    monitor = Monitor(rt, MonitorConfig(fast_interval=0.1, slow_interval=0.1,
                                        error_interval=0.1))
    try:
        await monitor.cycle(force=True)
        assert rt.repository.require_account(account.id).do_server_status is \
            ServerStatus.RUNNING
        before = len(rt.repository.history(account.id))
        await Lifecycle(rt, poll=0.05).restart(account.id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while loop.time() < deadline:
            await monitor.cycle(force=True)
            if rt.repository.require_account(account.id).do_server_status is \
                    ServerStatus.RUNNING:
                break
            await asyncio.sleep(0.1)
        after = rt.repository.history(account.id)[before:]
        assert rt.repository.require_account(account.id).do_server_status is \
            ServerStatus.RUNNING, [e.reason for e in after]
        assert all(e.status is not ServerStatus.ERROR for e in after), \
            [e.reason for e in after]
    finally:
        await monitor.close()
