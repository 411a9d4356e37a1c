"""Keeping Python's garbage collector off the monitor's long-lived objects.

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

Process-wide, so only processes that are monitors use it: the window's monitor worker
and `ibdesk watch` (the headless service). Never the window itself or the tests' process.
"""

from __future__ import annotations

import gc

from ibdesk.services.watch.monitor import CycleStats, Monitor

YOUNG = 20_000
"""Allocations between young collections in a monitor process (Python's default: 700)."""


class QuietHeap:
    """`QuietHeap().watch(monitor)`: refreeze the heap after cycles that changed the
    monitor's connections."""

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
        if not (stats.sessions_opened or stats.sessions_closed):
            return
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self.refrozen += 1


__all__ = ["YOUNG", "QuietHeap"]
