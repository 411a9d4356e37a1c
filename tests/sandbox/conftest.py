"""A fast sandbox per test, and helpers that move simulated time instead of sleeping."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ibdesk.cloud import DigitalOceanClient
from ibdesk.sandbox import Sandbox
from tests.helpers.sandbox import (
    fast_options,
)


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(fast_options()) as sb:
        yield sb


@pytest.fixture
async def do(sandbox: Sandbox) -> AsyncIterator[DigitalOceanClient]:
    async with DigitalOceanClient(sandbox.token, base_url=sandbox.api_url, timeout=10) as c:
        yield c
