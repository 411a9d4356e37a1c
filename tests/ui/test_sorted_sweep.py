"""Issue 18: sorted by "checked", every updated row was re-sorted and the view laid out
again, and the tray's summary recomputed after every chunk; now the order holds during a
cycle and is made once when the cycle ends, with the tray and the bill."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import qasync
from PySide6.QtCore import Qt

from ibdesk.domain.enums import Environment, ServerStatus
from ibdesk.domain.models import Account
from ibdesk.services import open_runtime
from ibdesk.store.repository import StatusUpdate
from ibdesk.ui.account_table_model import COL_CHECKED, AccountRole
from ibdesk.ui.controller import Controller
from ibdesk.ui.main_window import MainWindow


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
        return [win.proxy.data(win.proxy.index(r, 0), AccountRole.ACCOUNT).id
                for r in range(win.proxy.rowCount())]

    assert order() == [f"ib-demo-0000000{i}" for i in range(6)]
    summaries: list[Any] = []
    original = win._update_tray
    win._update_tray = lambda accounts: (summaries.append(len(accounts)),  # type: ignore[method-assign]
                                         original(accounts))
    layouts: list[int] = []
    win.proxy.layoutChanged.connect(lambda *_: layouts.append(1))
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
    win._ages.stop()
    loop.run_until_complete(controller.close())
    win.deleteLater()
