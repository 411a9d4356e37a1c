"""Following IBeam's output: only new lines, gaps marked, over one SSH connection."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from ibdesk.sandbox import Sandbox
from ibdesk.services import Runtime
from ibdesk.services.support.ibeam_logs import container_log, follow, new_lines
from tests.helpers.e2e import provisioner, request

WINDOW = 20


@given(total=st.integers(0, 80), start=st.integers(0, 80), step=st.integers(0, WINDOW - 1))
def test_new_lines_are_exactly_what_was_added(total: int, start: int, step: int) -> None:
    log = [f"2026-11-25 10:00:{i:02d},000|I| line {i}" for i in range(total + start + step)]
    before = log[:start][-WINDOW:]
    after = log[:start + step][-WINDOW:]
    fresh, gap = new_lines(before, after)
    assert not gap
    assert fresh == log[start:start + step]


def test_a_gap_is_reported_when_the_window_moved_too_far() -> None:
    fresh, gap = new_lines(["a", "b"], ["x", "y"])
    assert gap and fresh == ["x", "y"]


async def test_follow_yields_new_lines_then_stops(sandbox: Sandbox, rt: Runtime) -> None:
    account = await provisioner(rt).connect(request("paper"))
    ibeam = sandbox.host(account.do_droplet_id or 0).ibeam
    assert len(await container_log(rt, account.id, 3)) == 3
    stop = asyncio.Event()
    following = asyncio.Event()
    seen: list[str] = []

    async def read() -> None:
        async for line in follow(rt, account.id, 2, poll=0.05, stop=stop):
            seen.append(line)
            if len(seen) == 2:  # the last 2 lines are out: new ones come by polling
                following.set()
            if "marker two" in line:
                stop.set()

    task = asyncio.ensure_future(read())
    await asyncio.wait_for(following.wait(), 10)
    ibeam.log("I", "marker one")
    ibeam.log("I", "marker two")
    await asyncio.wait_for(task, 10)
    assert len(seen) == 4 and seen[-2].endswith("marker one")
    before = len(sandbox.host(account.do_droplet_id or 0).connections)
    assert before <= 1  # the follow's one connection is closed again
