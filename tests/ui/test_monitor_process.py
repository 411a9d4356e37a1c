"""The window's monitor process: started on demand, results delivered on the window's
loop, started again when it dies, stopped cleanly on close."""

from __future__ import annotations

import asyncio
import os
import signal

import qasync

from ibdesk.services.runtime import Runtime
from ibdesk.ui.controller import Controller
from tests.e2e.conftest import request
from tests.helpers import run_scenario


def test_results_arrive_and_a_dead_worker_comes_back(loop: qasync.QEventLoop,
                                                     sandboxed: Runtime) -> None:
    controller = Controller(sandboxed)
    cycles: list[list[object]] = []
    controller.cycle_finished.connect(cycles.append)

    async def scenario() -> None:
        account = await controller.connect(request("paper"), lambda _: None)
        monitor = controller.monitor
        delivered = asyncio.get_running_loop().create_future()
        controller.cycle_finished.connect(
            lambda _: delivered.done() or delivered.set_result(None))
        await monitor.refresh(account.id)
        await asyncio.wait_for(delivered, 10)  # the cycle's results reach the window
        assert any(getattr(u, "account_id", None) == account.id for c in cycles for u in c)
        assert controller.latency.get(account.id)  # latency reached the chart's data
        process = monitor._process
        assert process is not None
        first_pid = process.processId()
        restarted = asyncio.get_running_loop().create_future()
        monitor.ready.connect(lambda: restarted.done() or restarted.set_result(None))
        os.kill(first_pid, signal.SIGKILL)
        await asyncio.wait_for(restarted, 20)  # started again by itself, after its delay
        second = monitor._process
        assert second is not None and second.processId() not in (0, first_pid)
        await monitor.refresh(account.id)  # works against the new worker
        await controller.close()
        assert monitor._process is None or second.state() == second.ProcessState.NotRunning

    run_scenario(loop, scenario())
