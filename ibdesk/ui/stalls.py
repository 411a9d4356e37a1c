"""A debug switch (IBDESK_DEBUG_STALLS=1) that logs every event-loop stall over 50 ms.

It measures how late a 10 ms timer fires on the qasync loop: any blocking call on the
Qt thread shows up as lateness, whatever caused it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass
class StallWatch:
    threshold: float = 0.05
    tick: float = 0.01
    stalls: list[float] = field(default_factory=list)
    worst: float = 0.0
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._watch())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.tick)
            late = loop.time() - before - self.tick
            self.worst = max(self.worst, late)
            if late > self.threshold:
                self.stalls.append(late)
                log.warning("event loop stalled for %.0f ms", late * 1000)


__all__ = ["StallWatch"]
