"""Cold start to a painted window: a bare PySide6 QMainWindow against ibdesk's window with
1,000 accounts in its store, started the way `ibdesk` starts (its command-line entry
point, real settings and keyring). Each start is a fresh process; the time runs from
just before the process is spawned to the window's first paint with the accounts in
it (and, for ibdesk, to its first paint of any kind: the window before its rows). Prints
the median of 7 starts of each, and the ratios.

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
from ibdesk.ui import main_window
first_frame = []
class Painted(QObject):
    def __init__(self, window):
        super().__init__(); self.window = window; self.done = False
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint:
            if not first_frame:
                first_frame.append(time.time())
            if self.window.model.rowCount() and obj is self.window.table.viewport() \
                    and not self.done:
                self.done = True
                print(time.time(), first_frame[0], self.window.model.rowCount(), flush=True)
                QTimer.singleShot(0, self.window.close)
        return False
original_show = main_window.MainWindow.show
def show(self):
    self._probe = Painted(self)
    self.installEventFilter(self._probe)
    self.table.viewport().installEventFilter(self._probe)
    original_show(self)
main_window.MainWindow.show = show
sys.exit(main(["--home", sys.argv[1]]))
"""


def seed(home: Path, n: int) -> None:
    from ibdesk.domain import Account, ServerStatus, new_account_id
    from ibdesk.store import Repository

    repo = Repository.open(f"sqlite:///{home / 'ibdesk.sqlite3'}")
    for i in range(n):
        repo.add_account(Account(id=new_account_id("paper"), username=f"trader{i}",
                                 environment="paper", do_droplet_id=10_000 + i,
                                 do_droplet_name=f"trader{i}-ib-paper-1", do_region="nyc1",
                                 do_ip_address=f"198.18.{i // 250}.{i % 250 + 2}",
                                 do_server_status=ServerStatus.RUNNING,
                                 custom_data={"price_monthly": 6.0}))
    repo.close()


def timed(code: str, *args: str) -> tuple[float, float]:
    """(seconds to the paint that counts, seconds to the window's first paint)."""
    started = time.time()
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         check=True).stdout.split()
    done = float(out[0]) - started
    return done, (float(out[1]) - started if len(out) > 2 else done)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        seed(home, 1000)
        timed(BARE)  # warm the file cache for both
        timed(IBDESK, str(home))
        bare = [timed(BARE)[0] for _ in range(RUNS)]
        ours = [timed(IBDESK, str(home)) for _ in range(RUNS)]
    b = statistics.median(bare)
    rows = statistics.median(t for t, _ in ours)
    frame = statistics.median(f for _, f in ours)
    print(json.dumps({"bare_pyside6_s": round(b, 3), "ibdesk_first_frame_s": round(frame, 3),
                      "ibdesk_1000_accounts_s": round(rows, 3),
                      "ratio_first_frame": round(frame / b, 2), "ratio": round(rows / b, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
