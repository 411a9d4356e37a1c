"""Issue 18: sorted by "checked", every updated row was re-sorted and the view laid out
again, and the tray's summary recomputed after every chunk; now the order holds during a
cycle and is made once when the cycle ends, with the tray and the bill."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import qasync
from PySide6.QtCore import Qt

from ibdesk.domain.enums import Environment, ServerStatus
from ibdesk.domain.models import Account
from ibdesk.services import open_runtime
from ibdesk.services.watch.worker_protocol import Message
from ibdesk.store.repository import StatusUpdate
from ibdesk.ui.account_table_model import COL_CHECKED
from ibdesk.ui.controller import Controller
from ibdesk.ui.main_window import MainWindow
from ibdesk.ui.monitor_process import MonitorProcess


def test_a_cycle_sorts_once_at_its_end(loop: qasync.QEventLoop, home: Path) -> None:
    rt = open_runtime(home)
    start = datetime.now(UTC) - timedelta(hours=1)
    for i in range(6):
        rt.repository.add_account(Account(
            id=f"ib-demo-0000000{i}", username=f"user{i}", environment=Environment.DEMO,
            do_droplet_id=100 + i, do_last_status_check=start + timedelta(minutes=i)))
    controller = Controller(rt)
    win = MainWindow(controller)  # not given to qtbot: closing it needs the loop running
    loop.run_until_complete(win.reload())
    win.table.sortByColumn(COL_CHECKED, Qt.SortOrder.AscendingOrder)

    def order() -> list[str]:
        return [win.model.account_at(r).id for r in range(win.model.rowCount())]

    assert order() == [f"ib-demo-0000000{i}" for i in range(6)]
    summaries: list[Any] = []
    original = win._update_tray
    win._update_tray = lambda accounts: (summaries.append(len(accounts)),  # type: ignore[method-assign]
                                         original(accounts))
    layouts: list[int] = []
    win.model.layoutChanged.connect(lambda *_: layouts.append(1))
    now = datetime.now(UTC)
    # the oldest-checked account is looked at first: it becomes the newest
    first_chunk = [StatusUpdate("ib-demo-00000000", ServerStatus.RUNNING, "ok", now)]
    second_chunk = [StatusUpdate("ib-demo-00000001", ServerStatus.RUNNING, "ok",
                                 now + timedelta(seconds=1))]
    loop.run_until_complete(win.apply_updates(first_chunk))
    loop.run_until_complete(win.apply_updates(second_chunk))
    assert order()[0] == "ib-demo-00000000"  # held still mid-cycle
    assert layouts == [] and summaries == []  # nothing over all rows per chunk
    win._on_cycle_ended()
    assert order()[-2:] == ["ib-demo-00000000", "ib-demo-00000001"]  # sorted, once
    assert len(layouts) == 1 and summaries == [6]
    assert not win.model.hold_order  # other changes sort as before
    win.filter.setText("USER1")  # the filter box hides rows (text shown, any case)
    assert [win.model.account_at(r).id for r in win.rows.shown_rows()] == \
        ["ib-demo-00000001"]
    assert win.shown.text() == "Showing 1 of 6 accounts" and not win.shown.isHidden()
    win.filter.setText("nobody")
    assert win.shown.text() == "No account matches “nobody”: clear the filter to see all 6"
    win.filter.clear()
    assert len(win.rows.shown_rows()) == 6 and win.shown.isHidden()
    win._ages.stop()
    loop.run_until_complete(controller.close())
    win.deleteLater()


def test_lines_that_arrive_together_are_dispatched_one_per_pass(
        loop: qasync.QEventLoop, home: Path) -> None:
    """A sweep's ten lines come in one read; dispatched all in one pass of Qt's loop,
    they left no room for a paint or a timer (stalls of 50-90 ms at 1,000 accounts)."""

    process = MonitorProcess(open_runtime(home), steady=60, error=30)
    seen: list[str] = []
    process.subscribe_cycles(lambda updates: seen.append(updates[0].account_id))
    now = datetime.now(UTC).isoformat()
    lines = b"".join(json.dumps({"type": Message.CYCLE, "last": False, "updates": [
        {"account_id": f"ib-demo-0000000{i}", "status": "running", "reason": "ok",
         "at": now}]}).encode() + b"\n" for i in range(3))

    async def feed() -> None:
        process._feed(lines)
        asyncio.get_running_loop().call_soon(seen.append, "another callback")
        for _ in range(10):
            await asyncio.sleep(0)

    loop.run_until_complete(feed())
    assert seen == ["ib-demo-00000000", "another callback", "ib-demo-00000001",
                    "ib-demo-00000002"]


def test_chunks_are_applied_one_after_the_other(loop: qasync.QEventLoop, home: Path) -> None:
    """Two cycle lines' updates side by side took their steps in the same passes."""
    rt = open_runtime(home)
    for i in range(2):
        rt.repository.add_account(Account(id=f"ib-demo-0000000{i}", username=f"user{i}",
                                          environment=Environment.DEMO, do_droplet_id=100 + i))
    controller = Controller(rt)
    win = MainWindow(controller)
    loop.run_until_complete(win.reload())
    applied: list[str] = []
    original = win.model.apply_update
    win.model.apply_update = lambda u: (applied.append(u.account_id),  # type: ignore[method-assign]
                                        original(u))[1]
    now = datetime.now(UTC)
    chunks = [[StatusUpdate(f"ib-demo-0000000{i}", ServerStatus.RUNNING, "ok", now)] * 150
              for i in range(2)]

    async def both() -> None:
        await asyncio.gather(*(win.apply_updates(chunk) for chunk in chunks))

    loop.run_until_complete(both())
    assert applied == ["ib-demo-00000000"] * 150 + ["ib-demo-00000001"] * 150
    win._ages.stop()
    loop.run_until_complete(controller.close())
    win.deleteLater()
