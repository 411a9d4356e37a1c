"""Fakes shared by the tests."""

# MemoryKeyring is re-exported: the tests' keyring is the one sandbox mode falls back to.

from __future__ import annotations

from typing import Any

from ibdesk.secrets import MemoryKeyring


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
