"""The start-up snapshot: what the table showed at close is painted first at the next
start, before pydantic, SQLAlchemy or the services are loaded."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import qasync
from pytestqt.qtbot import QtBot

from ibdesk.services.runtime import Runtime
from ibdesk.ui import snapshot
from ibdesk.ui.columns import HEADERS
from ibdesk.ui.controller import Controller
from ibdesk.ui.main_window import MainWindow
from tests.helpers import PYTHON, run_scenario
from tests.helpers.e2e import request

ROW = ["ib-paper-1a2b3c4d", "paper", "jane-ib-paper-1", "nyc1", "198.18.0.3", "Running",
       "Logged in", "5000", "5 s ago", "$6"]


def test_round_trip_and_refusals(tmp_path: Path, qtbot: QtBot) -> None:
    assert snapshot.read(tmp_path) is None  # a first start: nothing to show
    snapshot.write(tmp_path, [ROW] * 3, title="ibdesk")
    data = snapshot.read(tmp_path)
    assert data is not None and data["rows"] == [ROW] * 3
    window = snapshot.SnapshotWindow(data)
    qtbot.addWidget(window)
    assert window.model.rowCount() == 3 and window.model.data(window.model.index(0, 2)) == \
        "jane-ib-paper-1"
    assert "Loading" in window.note.text()
    assert window.table.columnWidth(2) > 0  # measured, as no widths were saved
    snapshot.write(tmp_path, [ROW], title="ibdesk",
                   widths=[81, 50, 150, 60, 100, 90, 120, 70, 80, 90])
    saved = snapshot.read(tmp_path)
    assert saved is not None
    sized = snapshot.SnapshotWindow(saved)
    qtbot.addWidget(sized)
    assert sized.table.columnWidth(0) == 81  # the live table's widths, nothing measured
    for broken in ("not json", json.dumps({"version": 99, "rows": []}),
                   json.dumps({"version": 1, "rows": [["too", "short"]]})):
        snapshot.path_for(tmp_path).write_text(broken)
        assert snapshot.read(tmp_path) is None


def test_closing_window_saves_what_the_table_shows(loop: qasync.QEventLoop,
                                                   sandboxed: Runtime) -> None:
    controller = Controller(sandboxed)
    window = MainWindow(controller)

    async def scenario() -> None:
        account = await controller.connect_account(request("paper"), lambda _: None)
        window.model.set_rows(await controller.accounts())  # rows only: no selection
        await window._save_snapshot()
        data = snapshot.read(sandboxed.settings.home)
        assert data is not None
        (row,) = data["rows"]
        model = window.model
        assert row == [model.data(model.index(0, c)) for c in range(model.columnCount())]
        assert row[0] == account.username and row[5] == "Running"
        assert "p@per" not in json.dumps(data)  # the password is nowhere near it
        assert len(data["widths"]) == len(HEADERS)

    # the row selected after the connect loads its history: waited for before closing
    run_scenario(loop, scenario(), controller)
    window.hide()


def test_the_snapshot_paints_before_heavy_imports(tmp_path: Path) -> None:
    snapshot.write(tmp_path, [ROW] * 1000, title="ibdesk")
    probe = (
        "import sys, os\n"
        "from ibdesk.ui import snapshot\n"
        "original = snapshot.SnapshotWindow.show\n"
        "def show(self):\n"
        "    original(self)\n"
        "    heavy = [m for m in ('pydantic', 'sqlalchemy', 'keyring', 'httpx', 'asyncssh',\n"
        "             'qasync', 'ibdesk.domain.models', 'ibdesk.services') if m in sys.modules]\n"
        "    print('rows', self.model.rowCount(), 'heavy', heavy, flush=True)\n"
        "    os._exit(0)\n"
        "snapshot.SnapshotWindow.show = show\n"
        "from ibdesk.cli.app import main\n"
        f"main(['--home', {str(tmp_path)!r}])\n")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([*PYTHON, "-c", probe], capture_output=True, text=True,
                            timeout=60, env=env, check=False)
    assert result.stdout.strip() == "rows 1000 heavy []", result.stdout + result.stderr
