"""The window's tasks are kept until they end, and what they raise is logged."""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest

from ibdesk.ui import tasks


async def test_a_spawned_task_is_kept_and_its_failure_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    started = asyncio.Event()
    go_on = asyncio.Event()

    async def work() -> None:
        started.set()
        await go_on.wait()
        raise RuntimeError("boom")

    before = tasks.running()
    tasks.spawn(work())  # nobody keeps the task: spawn must
    await started.wait()
    gc.collect()
    assert tasks.running() == before + 1
    with caplog.at_level(logging.ERROR, logger="ibdesk.ui.tasks"):
        go_on.set()
        for _ in range(5):
            await asyncio.sleep(0)
    assert tasks.running() == before
    assert any("work failed" in r.getMessage() and r.exc_info for r in caplog.records)


async def test_a_cancelled_task_is_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    task = tasks.spawn(asyncio.sleep(30))
    await asyncio.sleep(0)
    task.cancel()
    with caplog.at_level(logging.ERROR, logger="ibdesk.ui.tasks"):
        for _ in range(3):
            await asyncio.sleep(0)
    assert task.cancelled() and not caplog.records
