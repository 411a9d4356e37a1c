"""Fakes shared by the tests."""

# MemoryKeyring is re-exported: the tests' keyring is the one sandbox mode falls back to.

from __future__ import annotations

import asyncio
import contextlib
import inspect
import socket
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest

from ibdesk.secrets import MemoryKeyring  # noqa: F401  (re-exported)
from ibdesk.self_command import is_packaged, self_command

PACKAGED = is_packaged()
"""The suite runs inside an installed app bundle (`briefcase run --test`, tests/ibdesk.py)."""
IBDESK = self_command()
"""Starts ibdesk's command line: `python -m ibdesk`, or the app's own executable."""
PYTHON = [sys.executable, "--python"] if PACKAGED else [sys.executable]
"""Starts `python ARGS`: in a bundle the app's executable running tests/child.py."""
CHECKOUT = Path(__file__).resolve().parents[2]
needs_checkout = pytest.mark.skipif(
    not (CHECKOUT / ".ci" / "run").is_file(),
    reason="reads the checkout's own files (README, .ci, lock file), which no bundle holds")


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


async def until(check: Callable[[], object], timeout: float = 30.0, *,
                every: float = 0.05) -> None:
    """Wait until `check()` (a value, or an awaitable of one) is true: for what no signal
    or future announces (a row's status, what a socket answers); AssertionError when it
    does not happen within `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"not there within {timeout:g} s")
        await asyncio.sleep(every)


CANARY_TOKEN = "dop_v1_CANARYTOKEN0123456789abcdef0123456789abcdef0123456789abcdef"
CANARY_PASSWORD = "canary-P@ss'w\"rd$`;&|/\\ñ"


async def settle(timeout: float = 30.0) -> None:
    """Wait until every other task on the loop has finished, including the ones those
    tasks start (a signal's async slot that selects a row starts another)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while pending := [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]:
        left = deadline - loop.time()
        if left <= 0:
            raise AssertionError(f"{len(pending)} tasks still running: {pending[:3]}")
        await asyncio.wait(pending, timeout=left)


T = TypeVar("T")


class Closable(Protocol):
    async def close(self) -> None: ...


def run_scenario(loop: asyncio.AbstractEventLoop, scenario: Coroutine[Any, Any, T],
                 controller: Closable | None = None) -> T:
    """Run a UI test's scenario, then close `controller` (its monitor process makes new
    work for the window) and wait for every task left, all in one run of the loop.

    qasync's run_until_complete processes Qt events once more after its loop has stopped,
    and pytest-qt does after each test: a task stepped there runs outside any running
    loop, and its next `asyncio.to_thread` fails the test for nothing the test checked."""

    async def whole() -> T:
        try:
            result = await scenario
        except BaseException:
            with contextlib.suppress(Exception):
                await _quiet(controller)
            raise
        await _quiet(controller)
        return result

    return loop.run_until_complete(whole())


async def _quiet(controller: Closable | None) -> None:
    if controller is not None:
        await controller.close()
    await settle()


def free_port() -> int:
    """A loopback TCP port nothing listens on just now (for a test's own server)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
