"""Python's cyclic garbage collector, run on the Qt thread only.

Why: automatic collection runs in whichever thread happens to allocate when a threshold
is crossed — often a worker thread loading accounts or modules. If the garbage includes
a Qt object's wrapper (a window closed earlier, a timer, a process handle), Qt destroys
that object from the wrong thread: "Timers cannot be stopped from another thread", and
at worst a segfault. So while the window runs, automatic collection is off and this
timer collects on the Qt thread, by generation, as the thresholds say (the approach
qutebrowser takes for the same reason).
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 500


class QtThreadCollector(QObject):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._threshold = gc.get_threshold()
        self._was_enabled = gc.isenabled()
        self._timer = QTimer(self)
        self._timer.setInterval(INTERVAL_MS)
        self._timer.timeout.connect(self.collect)

    def start(self) -> None:
        gc.disable()
        self._timer.start()

    def collect(self) -> int:
        """Collect the generations whose thresholds are crossed; returns how many objects
        were found unreachable."""
        counts = gc.get_count()
        if counts[0] <= self._threshold[0]:
            return 0
        generation = 0
        if counts[1] > self._threshold[1]:
            generation = 2 if counts[2] > self._threshold[2] else 1
        return gc.collect(generation)

    def stop(self) -> None:
        self._timer.stop()
        gc.collect()  # on this thread, before anything else can
        if self._was_enabled:
            gc.enable()


__all__ = ["QtThreadCollector"]
