
from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import respx

from ibdesk.cloud import DigitalOceanClient
from tests.helpers import CANARY_TOKEN, NoSleep
from tests.helpers.cloud import BASE, Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sleeper(clock: Clock) -> NoSleep:
    return NoSleep(clock)


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


@pytest.fixture
async def do(api: respx.MockRouter, sleeper: NoSleep, clock: Clock
             ) -> AsyncIterator[DigitalOceanClient]:
    client = DigitalOceanClient(CANARY_TOKEN, base_url=BASE, sleep=sleeper, clock=clock)
    yield client
    await client.aclose()
