"""The Qt binding itself: PySide6 6.12.0 drops a reference to None on every call of a
method that returns nothing (setText, update, a timer's start, processEvents). On Python
3.11, where None is an ordinary object, a window running for a while -- or qasync's
asyncClose, which calls processEvents in a loop while the window shuts down -- brings
None's count to zero and the interpreter aborts ("deallocating None"). pyproject.toml
keeps that release out; this test fails on any release with the same fault."""

from __future__ import annotations

import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QLabel, QTableView

CALLS = 200  # few enough to fail cleanly, well before a faulty binding would abort


def test_methods_returning_nothing_keep_none_alive(qapp: QApplication) -> None:
    label, table, timer = QLabel("x"), QTableView(), QTimer()
    calls = [lambda: label.setText("y"), lambda: table.viewport().update(),
             lambda: timer.start(1000), timer.stop, QApplication.processEvents]
    for call in calls:
        before = sys.getrefcount(None)
        for _ in range(CALLS):
            call()
        # a few references may be cached or released elsewhere; a leak is one per call
        assert sys.getrefcount(None) - before > -CALLS // 2, call
