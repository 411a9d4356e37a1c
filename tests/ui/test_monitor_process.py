"""The window's monitor process: started on demand, results delivered on the window's
loop, started again when it dies, stopped cleanly on close."""

from __future__ import annotations

import asyncio
import os
import signal

import qasync

from ibdesk.domain.models import Account
from ibdesk.services.runtime import Runtime
from ibdesk.ui.account_table_model import AccountTableModel
from ibdesk.ui.controller import Controller
from tests.helpers import PYTHON, run_scenario, until
from tests.helpers.e2e import request


def _latency(account: Account, cycles: list[list[object]]) -> list[float]:
    """What the window's table model makes of the cycles: the chart's points."""
    model = AccountTableModel()
    model.set_rows([(account, None)])
    for cycle in cycles:
        for update in cycle:
            model.apply_update(update)
    return list(model.session(account.id).latency)


def test_results_arrive_and_a_dead_worker_comes_back(loop: qasync.QEventLoop,
                                                     sandboxed: Runtime) -> None:
    controller = Controller(sandboxed)
    cycles: list[list[object]] = []
    controller.cycle_finished.connect(cycles.append)

    async def scenario() -> None:
        account = await controller.connect_account(request("paper"), lambda _: None)
        monitor = controller.monitor
        delivered = asyncio.get_running_loop().create_future()
        controller.cycle_finished.connect(
            lambda _: delivered.done() or delivered.set_result(None))
        await monitor.refresh(account.id)
        await asyncio.wait_for(delivered, 10)  # the cycle's results reach the window
        assert any(getattr(u, "account_id", None) == account.id for c in cycles for u in c)
        assert _latency(account, cycles)  # latency reached the chart's data
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


STUB = ("import os, runpy, sys\n"
        "sys.stdout = open(os.devnull, 'w')  # as Briefcase's Windows GUI stub (a log file)\n"
        "sys.argv = ['ibdesk', *sys.argv[1:]]\n"
        "runpy.run_module('ibdesk', run_name='__main__', alter_sys=True)\n")


def test_the_worker_is_heard_when_a_stub_swallows_its_stdout(
        loop: qasync.QEventLoop, sandboxed: Runtime, monkeypatch: object) -> None:
    """Issue 15: a packaged app's stub sends stdout elsewhere (a log file on Windows, the
    system log on macOS through std-nslog), so a worker that answered on stdout was never
    heard. Results come over a loopback channel that takes only the token's connection."""
    import socket

    import pytest

    from ibdesk.ui import monitor_process

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setattr(monitor_process, "worker_command",
                        lambda: (PYTHON[0], [*PYTHON[1:], "-c", STUB]))
    controller = Controller(sandboxed)
    cycles: list[list[object]] = []
    controller.cycle_finished.connect(cycles.append)

    async def scenario() -> None:
        account = await controller.connect_account(request("paper"), lambda _: None)
        monitor = controller.monitor
        await asyncio.wait_for(monitor.watch(), 30)  # ready arrived, over the channel
        assert monitor._socket is not None
        # the channel took its one connection and listens no more: nobody else gets in
        port = monitor._socket.localPort()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        await asyncio.wait_for(monitor.refresh(account.id), 20)
        assert _latency(account, cycles)
        await controller.close()

    run_scenario(loop, scenario())


def test_a_connection_without_the_token_is_refused(
        loop: qasync.QEventLoop, sandboxed: Runtime, monkeypatch: object) -> None:
    import socket

    import pytest

    from ibdesk.ui import monitor_process

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    slow = "import time; time.sleep(1.5)\n" + STUB  # a stranger gets there first
    monkeypatch.setattr(monitor_process, "worker_command",
                        lambda: (PYTHON[0], [*PYTHON[1:], "-c", slow]))
    controller = Controller(sandboxed)

    async def scenario() -> None:
        monitor = controller.monitor
        watching = asyncio.ensure_future(monitor.watch())
        await until(lambda: monitor._server is not None, 2, every=0.02)
        assert monitor._server is not None
        stranger = socket.create_connection(("127.0.0.1", monitor._server.serverPort()),
                                            timeout=5)
        stranger.sendall(b"guess\n")
        closed = await asyncio.to_thread(stranger.recv, 100)
        stranger.close()
        assert closed == b""  # refused
        await asyncio.wait_for(watching, 30)  # and the real worker is heard
        assert monitor._socket is not None
        await controller.close()

    run_scenario(loop, scenario())
