"""The monitor's heap frozen after cycles that change its connections (watch/heap.py)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from ibdesk.services.watch.heap import QuietHeap
from ibdesk.services.watch.monitor import CycleStats


class _Cyclic:
    """Stands for what an SSH connection holds: objects that point at each other."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def _thawed() -> Iterator[None]:
    yield
    gc.unfreeze()  # this process is the tests', not a monitor


def test_a_cycle_that_opened_connections_freezes_what_is_alive() -> None:
    heap = QuietHeap()
    gc.unfreeze()
    heap.after(CycleStats(probes=10))  # nothing opened or ended: nothing to do
    assert gc.get_freeze_count() == 0 and heap.refrozen == 0
    heap.after(CycleStats(sessions_opened=3))
    assert gc.get_freeze_count() > 0 and heap.refrozen == 1


def test_what_an_ended_connection_left_is_collected_at_the_next_refreeze() -> None:
    heap = QuietHeap()
    held = _Cyclic()
    gone = weakref.ref(held)
    heap.after(CycleStats(sessions_opened=1))  # `held` is frozen now
    del held
    gc.collect()
    assert gone() is not None  # frozen: a cycle among frozen objects is never collected
    heap.after(CycleStats(sessions_closed=1))
    assert gone() is None
