"""Cyclic garbage is collected on the Qt thread while the window runs, never elsewhere."""

from __future__ import annotations

import gc
import threading

from PySide6.QtCore import QObject

from ibdesk.ui.gc_guard import QtThreadCollector


def test_collection_happens_on_the_qt_thread_only() -> None:
    collector = QtThreadCollector()
    collector.start()
    try:
        assert not gc.isenabled()
        collected_in: list[str] = []

        class Cycle:
            def __init__(self) -> None:
                self.me = self
                self.qobject = QObject()

            def __del__(self) -> None:
                collected_in.append(threading.current_thread().name)

        def make_garbage() -> None:
            for _ in range(2000):  # far past the first generation's threshold
                Cycle()
            [object() for _ in range(20000)]

        worker = threading.Thread(target=make_garbage, name="worker")
        worker.start()
        worker.join()
        assert collected_in == []  # nothing was collected on the worker thread
        assert collector.collect() > 0
        assert collected_in and set(collected_in) == {threading.current_thread().name}
    finally:
        collector.stop()
    assert gc.isenabled()
