"""Tasks the window starts from Qt's slots, kept until they end.

The event loop keeps only a weak reference to a task, so one that nobody holds can be
collected half-way (asyncio's documentation of `create_task`: "save a reference to the
result of this function"); and the exception of a task nobody awaits surfaces, if at all,
when it is collected. `spawn` holds each task until it ends and logs what it raised.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)

_running: set[asyncio.Task[Any]] = set()


def spawn(work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
    """Start `work` on the running loop and keep it until it ends."""
    task = asyncio.ensure_future(work)
    _running.add(task)
    task.add_done_callback(_ended)
    return task


def _ended(task: asyncio.Task[Any]) -> None:
    _running.discard(task)
    if not task.cancelled() and (error := task.exception()) is not None:
        what = getattr(task.get_coro(), "__qualname__", task.get_name())
        log.error("%s failed", what, exc_info=error)


def running() -> int:
    """How many spawned tasks have not ended (tests check that none is left behind)."""
    return len(_running)


__all__ = ["running", "spawn"]
