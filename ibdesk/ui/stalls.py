"""A debug switch (IBDESK_DEBUG_STALLS=1) that logs every event-loop stall over 50 ms.

It measures how late a 10 ms timer fires on the qasync loop: any blocking call on the
Qt thread shows up as lateness, whatever caused it. Each stall is also split into what
the Qt thread did meanwhile — ran Python or Qt code, waited for a core (the monitor and
other programs had both), or neither (blocked in a system call) — from the thread's own
scheduler figures where Linux gives them (`/proc/thread-self/schedstat`): on a busy
two-core machine a stall the thread spent waiting for a core is the machine's, not the
window's.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field

log = logging.getLogger(__name__)
_SCHEDSTAT = "/proc/thread-self/schedstat"


class _RunQueueClock:
    """Seconds the thread that made it has waited on a run queue so far (0 where Linux
    does not say). The file stays open and is read again from its start: opening it
    every 10 ms tick cost the Qt thread ~0.1 s of CPU a minute."""

    def __init__(self) -> None:
        try:
            self._fd: int | None = os.open(_SCHEDSTAT, os.O_RDONLY)
        except OSError:
            self._fd = None

    def __call__(self) -> float:
        if self._fd is None:
            return 0.0
        try:
            return int(os.pread(self._fd, 128, 0).split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            return 0.0

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@dataclass(frozen=True)
class Stall:
    late: float
    """Seconds the timer fired late."""
    ran: float
    """Of the stall's time, seconds the thread was on a core."""
    waited: float
    """Seconds it waited for a core (0 where the OS does not say)."""
    ended: float = 0.0
    """The loop's time when it ended (to match it with what ran then)."""

    @property
    def machine(self) -> bool:
        """Mostly waiting for a core: the machine was busy, not the window."""
        return self.waited > self.ran


@dataclass
class StallWatch:
    threshold: float = 0.05
    tick: float = 0.01
    stalls: list[float] = field(default_factory=list)
    details: list[Stall] = field(default_factory=list)
    """Each stall, with what the thread did meanwhile."""
    worst: float = 0.0
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._watch())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        waited_so_far = _RunQueueClock()  # opened on the loop's thread, whose it reads
        try:
            await self._ticks(loop, waited_so_far)
        finally:
            waited_so_far.close()

    async def _ticks(self, loop: asyncio.AbstractEventLoop, _waited: _RunQueueClock) -> None:
        while True:
            before, ran, waited = loop.time(), time.thread_time(), _waited()
            await asyncio.sleep(self.tick)
            late = loop.time() - before - self.tick
            self.worst = max(self.worst, late)
            if late > self.threshold:
                stall = Stall(late, time.thread_time() - ran, _waited() - waited, loop.time())
                self.stalls.append(late)
                self.details.append(stall)
                log.warning("event loop stalled for %.0f ms (the Qt thread ran %.0f ms of "
                            "it, waited %.0f ms for a core)", late * 1000, stall.ran * 1000,
                            stall.waited * 1000)


__all__ = ["Stall", "StallWatch"]
