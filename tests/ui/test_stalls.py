"""The debug switch's stall watch: a blocked loop is seen and logged, a free one is not."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from ibdesk.ui.stalls import StallWatch


async def test_a_blocking_call_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="ibdesk.ui.stalls")
    watch = StallWatch()
    watch.start()
    await asyncio.sleep(0.1)
    assert watch.stalls == []
    time.sleep(0.15)  # what the window must never do: block its loop
    await asyncio.sleep(0.05)
    watch.stop()
    assert len(watch.stalls) == 1 and 0.12 < watch.worst < 0.5
    assert "event loop stalled for" in caplog.text
    stall, = watch.details
    assert stall.ran < 0.05 and not stall.machine  # asleep: neither running nor queued


async def test_a_stall_spent_computing_is_the_windows_own() -> None:
    watch = StallWatch()
    watch.start()
    await asyncio.sleep(0.05)
    end = time.thread_time() + 0.15
    while time.thread_time() < end:  # on a core all the time
        pass
    await asyncio.sleep(0.05)
    watch.stop()
    stall, = watch.details
    assert stall.ran >= 0.15 and stall.ran > stall.waited and not stall.machine
