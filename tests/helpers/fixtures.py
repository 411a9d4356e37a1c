"""Fixtures every test folder may use, loaded by the root conftest (`pytest_plugins`):
a sandbox on real loopback and a runtime (real SQLite file) wired to it. A folder's own
conftest may define its own `sandbox` (tests/sandbox does: slower, scripted time)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from ibdesk.sandbox import Sandbox
from ibdesk.services import Runtime
from tests.helpers.e2e import options, runtime_for


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(options()) as sb:
        yield sb


@pytest.fixture
def rt(sandbox: Sandbox, home: Path) -> Iterator[Runtime]:
    runtime = runtime_for(sandbox, home)
    yield runtime
    runtime.close()
