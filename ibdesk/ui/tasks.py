"""Tasks the window starts from Qt's slots, kept until they end.

The event loop keeps only a weak reference to a task, so one that nobody holds can be
collected half-way (asyncio's documentation of `create_task`: "save a reference to the
result of this function"); and the exception of a task nobody awaits surfaces, if at all,
when it is collected. `spawn` holds each task until it ends and logs what it raised.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, cast

import qasync

P = ParamSpec("P")

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


def async_slot() -> Callable[[Callable[P, Coroutine[Any, Any, None]]],
                              Callable[P, asyncio.Task[None]]]:
    """qasync's `asyncSlot()`, typed: qasync ships no type information, and an untyped
    decorator would leave every slot unchecked. Calling the slot starts its coroutine as
    a task and returns it (qasync drops the signal's trailing arguments the coroutine
    does not take, and hands what it raises to `sys.excepthook`, the crash box)."""
    return cast(Callable[[Callable[P, Coroutine[Any, Any, None]]],
                         Callable[P, asyncio.Task[None]]], qasync.asyncSlot())


def running() -> int:
    """How many spawned tasks have not ended (tests check that none is left behind)."""
    return len(_running)


__all__ = ["async_slot", "running", "spawn"]
