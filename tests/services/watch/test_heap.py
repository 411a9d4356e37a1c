"""The monitor's heap frozen after cycles that change its connections (watch/heap.py)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import weakref
from collections.abc import Iterator

import pytest

from ibdesk.services.watch.heap import ARENAS, QuietHeap
from ibdesk.services.watch.monitor import CycleStats
from tests.helpers import PYTHON


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


_ARENAS = """
import ctypes, sys, tempfile, threading
from ibdesk.services.watch.heap import limit_malloc_arenas
limited = sys.argv[1] == "limit" and limit_malloc_arenas()
start = threading.Barrier(6)
held = []
def allocate():
    start.wait()  # all at once: each new thread's first malloc picks its arena
    held.append([bytearray(1000) for _ in range(200)])  # over 512 bytes: glibc's malloc
threads = [threading.Thread(target=allocate) for _ in range(6)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = (ctypes.c_char_p, ctypes.c_char_p)
libc.malloc_info.argtypes = (ctypes.c_int, ctypes.c_void_p)
libc.fclose.argtypes = (ctypes.c_void_p,)
with tempfile.NamedTemporaryFile(suffix=".xml") as report:
    stream = libc.fopen(report.name.encode(), b"w")
    libc.malloc_info(0, stream)
    libc.fclose(stream)
    print(limited, open(report.name).read().count("<heap nr="))
"""


def _arenas(mode: str) -> tuple[str, int]:
    done = subprocess.run([*PYTHON, "-c", _ARENAS, mode], capture_output=True,
                          text=True, check=True, timeout=60)
    limited, heaps = done.stdout.split()
    return limited, int(heaps)


def _glibc() -> bool:
    try:
        return sys.platform == "linux" and bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (ValueError, OSError):
        return False


@pytest.mark.skipif(not _glibc(), reason="glibc's allocator")
def test_a_monitor_process_keeps_to_two_malloc_arenas() -> None:
    """Six threads allocating at once get an arena each from glibc (up to eight per
    core); a monitor process caps them at ARENAS, so memory freed in one is reused."""
    limited, heaps = _arenas("default")
    assert limited == "False" and heaps == 7  # the main arena and one per thread
    assert _arenas("limit") == ("True", ARENAS)


_FREED = """
import sys
from ibdesk.services.watch.heap import QuietHeap
from ibdesk.services.watch.monitor import CycleStats

def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096 / 2**20

held = [bytearray(1000) for _ in range(60_000)]  # over 512 bytes: glibc's malloc
pin = [bytearray(1000) for _ in range(100)]  # above them: the heap's top is not free
del held
freed = rss()
if sys.argv[1] == "cycle":
    QuietHeap().after(CycleStats(probes=10))  # a cycle that opened and ended nothing
print(freed - rss())
"""


@pytest.mark.skipif(not _glibc(), reason="glibc's allocator")
def test_after_each_cycle_a_monitor_gives_back_what_it_freed() -> None:
    """glibc keeps freed chunks below a live one (and a thousand connections' objects are
    live everywhere): the monitor's RSS crept past 200 MB at 1,000 accounts. After every
    cycle it gives the free pages back (malloc_trim)."""
    def given_back(mode: str) -> float:
        done = subprocess.run([*PYTHON, "-c", _FREED, mode], capture_output=True,
                              text=True, check=True, timeout=60)
        return float(done.stdout)

    assert given_back("none") < 5  # 60 MB freed, none of it returned by itself
    assert given_back("cycle") > 40
