"""Cold start to a painted window: a bare PySide6 QMainWindow against ibdesk's window with
1,000 accounts in its store, started the way `ibdesk` starts (its command-line entry
point, real settings and keyring). Each start is a fresh process; the time runs from
just before the process is spawned to the first paint with the 1,000 accounts in it: for
ibdesk that is the start-up snapshot of the table (saved when the window last closed;
the warm-up start makes it), and the live table's paint is reported too. Prints the
median of 7 starts of each, and the ratios.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/startup.py   (or under xvfb-run)
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 7

BARE = """
import sys, time
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QMainWindow, QLabel
class Painted(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint:
            print(time.time(), flush=True); QApplication.instance().exit(0)
        return False
app = QApplication(sys.argv)
w = QMainWindow(); w.setCentralWidget(QLabel("hello")); w.resize(1200, 720)
f = Painted(); w.installEventFilter(f); w.show()
app.exec()
"""

IBDESK = """
import sys, time
from PySide6.QtCore import QEvent, QObject, QTimer
from ibdesk.cli.app import main
from ibdesk.ui import snapshot
seen = {}
class Painted(QObject):
    def __init__(self, name, window):
        super().__init__(); self.name = name; self.window = window
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and self.name not in seen \
                and self.window.table.model().rowCount():
            seen[self.name] = time.time()
            if self.name == "live":
                first = min(seen.values())
                print(first, seen["live"], self.window.table.model().rowCount(), flush=True)
                QTimer.singleShot(0, self.window.close)
        return False
def probe(name, cls):
    original = cls.show
    def show(self):
        self._probe = Painted(name, self)
        self.table.viewport().installEventFilter(self._probe)
        original(self)
    cls.show = show
probe("snapshot", snapshot.SnapshotWindow)
def probe_live():
    from ibdesk.ui import main_window
    probe("live", main_window.MainWindow)
import ibdesk.app as app_module
run_window = app_module.run_window
def patched(home, *, sandbox):
    original = app_module.show_snapshot
    def show_snapshot(app, home, *, sandbox):
        window = original(app, home, sandbox=sandbox)
        probe_live()  # the window module loads after the snapshot, as in the app
        return window
    app_module.show_snapshot = show_snapshot
    return run_window(home, sandbox=sandbox)
app_module.run_window = patched
sys.exit(main(["--home", sys.argv[1]]))
"""


def seed(home: Path, n: int) -> None:
    from ibdesk.domain.models import Account, ServerStatus, new_account_id
    from ibdesk.store import Repository

    repo = Repository.open(f"sqlite:///{home / 'ibdesk.sqlite3'}")
    for i in range(n):
        repo.add_account(Account(id=new_account_id("paper"), username=f"trader{i}",
                                 environment="paper", do_droplet_id=10_000 + i,
                                 do_droplet_name=f"trader{i}-ib-paper-1", do_region="nyc1",
                                 do_ip_address=f"198.18.{i // 250}.{i % 250 + 2}",
                                 do_server_status=ServerStatus.RUNNING,
                                 price_monthly=6.0))
    repo.close()


def timed(code: str, *args: str) -> tuple[float, float]:
    """(seconds to the first paint of the accounts — the snapshot's, or the live table's on
    a first start —, seconds to the live table's paint)."""
    started = time.time()
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         check=True).stdout.split()
    first = float(out[0]) - started
    return first, (float(out[1]) - started if len(out) > 2 else first)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        seed(home, 1000)
        timed(BARE)  # warm the file cache for both
        timed(IBDESK, str(home))
        bare = [timed(BARE)[0] for _ in range(RUNS)]
        ours = [timed(IBDESK, str(home)) for _ in range(RUNS)]
    b = statistics.median(bare)
    first = statistics.median(t for t, _ in ours)
    live = statistics.median(t for _, t in ours)
    print(json.dumps({"bare_pyside6_s": round(b, 3), "ibdesk_1000_accounts_s": round(first, 3),
                      "ratio": round(first / b, 2), "ibdesk_live_rows_s": round(live, 3),
                      "ratio_live": round(live / b, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
