"""Fakes shared by the tests."""

# MemoryKeyring is re-exported: the tests' keyring is the one sandbox mode falls back to.

from __future__ import annotations

from typing import Any

from ibdesk.secrets import MemoryKeyring  # noqa: F401  (re-exported)


class NoSleep:
    """Stands in for asyncio.sleep: records the waits, and moves a fake clock on."""

    def __init__(self, clock: Any = None) -> None:
        self.waits: list[float] = []
        self.clock = clock

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if hasattr(self.clock, "advance"):  # the sandbox's SimClock
            self.clock.advance(seconds)
        elif self.clock is not None:
            self.clock.now += seconds


CANARY_TOKEN = "dop_v1_CANARYTOKEN0123456789abcdef0123456789abcdef0123456789abcdef"
CANARY_PASSWORD = "canary-P@ss'w\"rd$`;&|/\\ñ"


async def settle(timeout: float = 30.0) -> None:
    """Wait until every other task on the loop has finished, including the ones those
    tasks start (a signal's async slot that selects a row starts another). A task left
    pending when a test's loop stops would be stepped later by pytest-qt's event
    processing, outside any running loop."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while pending := [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]:
        left = deadline - loop.time()
        if left <= 0:
            raise AssertionError(f"{len(pending)} tasks still running: {pending[:3]}")
        await asyncio.wait(pending, timeout=left)
