"""A monitor process's heap: the garbage collector kept off its long-lived objects, its
malloc arenas few, and what each cycle freed given back.

A monitor of a thousand accounts holds a thousand SSH connections (ciphers, channels,
buffers, TLS objects): hundreds of thousands of objects that live for hours. Every
probe makes short-lived objects, some of which outlive a young collection (a probe
waits a round trip or two), so full collections came several times a cycle and each
walked every long-lived object: 0.44 s of CPU a cycle at 1,000 accounts, 28 % of the
monitor's time per probe (`benchmarks/monitor.py`, `gc_ms_per_probe`).

`gc.freeze()` moves every object alive now out of the collector's sight; later
collections only walk what came after. Frozen objects are still freed by reference
counting, but a *cycle* among them would never be collected. So the heap is frozen again
after every cycle in which SSH connections were opened or ended: unfreeze, collect (what
the ended connections left is found then), freeze. That costs one full collection when
connections change — at start, and when a server goes away — instead of several a cycle.
Young collections are also spaced out (`YOUNG`), so that fewer of a probe's short-lived
objects live long enough to be promoted: with both, 0.04 ms a probe went to the
collector, against 0.58 ms before.

glibc's malloc gives each new thread an arena of its own, up to eight per core, and
memory freed in one arena is not reused by the others. A monitor's database writes and
the loop's default executor run in worker threads, and with an arena each the monitor at
1,000 accounts peaked at 209 MB and still grew 1.5 MB a cycle. With two arenas
(`limit_malloc_arenas`) it was 199 MB, growing 0.9 MB a cycle, at the same CPU per probe
(`benchmarks/monitor.py`, one run each; an earlier run had a 9 MB difference).
Python's own objects stayed flat in both (tracemalloc: 43.3 → 44.7 MB from the second
cycle to the eighth).

What a cycle frees, glibc keeps: freed chunks inside the heap go back to the system only
when the top of the heap is free, and a thousand connections' long-lived objects sit
everywhere. So the monitor's RSS still crept up, 198 → 205 MB over 25 cycles at 1,000
accounts, and its peak passed issue 18's 200 MB. `release_free_memory` (glibc's
`malloc_trim(0)`, which gives back every free page, not only the top) after each cycle:
175 → 180 MB over the same 25 cycles, peak 191 MB, for 1–2.4 ms of CPU a cycle
(`benchmarks/monitor.py`, in one run with the httpx CLI left out, see `ibdesk/__init__`).

Process-wide, so only processes that are monitors use these: the window's monitor worker
and `ibdesk watch` (the headless service). Never the window itself or the tests' process.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import os
import sys

from ibdesk.services.watch.monitor import CycleStats, Monitor

YOUNG = 20_000
"""Allocations between young collections in a monitor process (Python's default: 700)."""
ARENAS = 2
"""glibc malloc arenas in a monitor process (glibc's default: 8 per core)."""
_M_ARENA_MAX = -8
"""`mallopt`'s parameter for the arena limit (glibc's malloc.h)."""


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (not macOS, Windows or musl, whose allocators do
    not work this way and lack these calls), with the two calls used here declared.
    Looked up once: `release_free_memory` runs after every cycle."""
    if sys.platform != "linux":
        return None
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return None
    except (ValueError, OSError):  # a libc that does not answer: not glibc
        return None
    libc = ctypes.CDLL(None)
    libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    libc.mallopt.restype = ctypes.c_int
    libc.malloc_trim.argtypes = (ctypes.c_size_t,)
    libc.malloc_trim.restype = ctypes.c_int
    return libc


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas, as `MALLOC_ARENA_MAX` would, before the monitor's
    threads allocate (an arena made already stays). True when set: glibc only, so not
    on macOS, Windows or musl, whose allocators do not work this way."""
    libc = _glibc()
    return libc is not None and bool(libc.mallopt(_M_ARENA_MAX, arenas))


def release_free_memory() -> bool:
    """Give the free pages of every malloc arena back to the system (glibc's
    `malloc_trim(0)`); True when some were. Elsewhere nothing to do: False."""
    libc = _glibc()
    return libc is not None and bool(libc.malloc_trim(0))


class QuietHeap:
    """`QuietHeap().watch(monitor)`: refreeze the heap after cycles that changed the
    monitor's connections, and give back what every cycle freed."""

    def __init__(self) -> None:
        self.refrozen = 0
        """How many times the heap was frozen again (the tests read it)."""

    def watch(self, monitor: Monitor) -> None:
        # a young collection every YOUNG allocations instead of 700: a thousand probes in
        # flight keep their objects for a round trip, and at 700 most survived into the
        # older generations, whose collections then came every few milliseconds
        gc.set_threshold(YOUNG, *gc.get_threshold()[1:])
        monitor.subscribe_stats(self.after)

    def after(self, stats: CycleStats) -> None:
        if stats.sessions_opened or stats.sessions_closed:
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            self.refrozen += 1
        release_free_memory()  # what the cycle freed, every cycle: ~1-2 ms


__all__ = ["ARENAS", "YOUNG", "QuietHeap", "limit_malloc_arenas", "release_free_memory"]
