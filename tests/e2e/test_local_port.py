"""Issue 14, point 3: each account's own local port — two accounts never share or swap one.

Before, a tunnel took 5000 when free and a random port when not: with account 1's tunnel
dead, account 2 took 5000, and a program set up for https://localhost:5000 reached
whichever account opened first. Each program here checks *which* IBKR account answers
(`/iserver/accounts`), as a trader's program would find out too late.
"""

from __future__ import annotations

import os
import socket

import httpx
import pytest

from ibdesk.domain.enums import ServerStatus
from ibdesk.domain.errors import InvalidInput
from ibdesk.sandbox import Sandbox
from ibdesk.sandbox.ibkr import account_number
from ibdesk.services import Runtime
from ibdesk.services.control import local_port
from ibdesk.services.control.lifecycle import Lifecycle
from ibdesk.services.control.tunnel import KeptTunnel, PortTaken, TunnelState
from tests.helpers import until
from tests.helpers.e2e import provisioner, request


async def ibkr_account(port: int) -> str | None:
    """The IBKR account that answers on localhost:port (None: nothing answers)."""
    try:
        async with httpx.AsyncClient(verify=False, timeout=5) as client:
            answer = await client.get(f"https://localhost:{port}/v1/api/iserver/accounts")
        return answer.json()["selectedAccount"] if answer.status_code == 200 else None
    except httpx.HTTPError:
        return None


async def test_two_accounts_never_share_or_swap_a_port(sandbox: Sandbox, rt: Runtime) -> None:
    paper = await provisioner(rt).connect(request("paper"))
    live = await provisioner(rt).connect(request("live"))
    assert paper.local_port and live.local_port and paper.local_port != live.local_port
    stored = rt.repository.local_ports()
    assert stored == {paper.local_port: paper.id, live.local_port: live.id}
    paper_number, live_number = account_number("paperjane", True), account_number("livejoe",
                                                                                  False)

    # opened in the order opposite to the accounts' creation: each on its own port
    live_tunnel, paper_tunnel = KeptTunnel(rt, live.id), KeptTunnel(rt, paper.id)
    assert await live_tunnel.start() == live.local_port
    assert await paper_tunnel.start() == paper.local_port
    try:
        assert await ibkr_account(paper.local_port) == paper_number
        assert await ibkr_account(live.local_port) == live_number

        # the paper server stops: its tunnel is down, and the live account, opened again
        # meanwhile, still never takes the paper account's port
        await Lifecycle(rt, poll=0.05).stop(paper.id)
        await until(lambda: paper_tunnel.state is TunnelState.DOWN, 15)
        await live_tunnel.close()
        live_tunnel = KeptTunnel(rt, live.id)
        assert await live_tunnel.start() == live.local_port
        assert await ibkr_account(paper.local_port) is None
        assert await ibkr_account(live.local_port) == live_number

        await Lifecycle(rt, poll=0.05).start(paper.id)
        await until(lambda: paper_tunnel.state is TunnelState.UP, 30)
        assert paper_tunnel.port == paper.local_port
        await until(lambda: answers(paper.local_port, paper_number), 30, every=0.2)
    finally:
        await live_tunnel.close()
        await paper_tunnel.close()

    # a new session opens them in the other order: the same ports, the same accounts
    for account, number in ((paper, paper_number), (live, live_number)):
        tunnel = KeptTunnel(rt, account.id)
        try:
            assert await tunnel.start() == account.local_port
            assert await ibkr_account(account.local_port) == number
        finally:
            await tunnel.close()


async def answers(port: int, number: str) -> bool:
    return await ibkr_account(port) == number


async def test_a_port_another_program_holds_is_named_and_never_swapped(
        sandbox: Sandbox, rt: Runtime) -> None:
    account = await provisioner(rt).connect(request("paper"))
    assert account.local_port is not None
    other = socket.socket()
    other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    other.bind(("127.0.0.1", account.local_port))
    other.listen()
    try:
        tunnel = KeptTunnel(rt, account.id)
        with pytest.raises(PortTaken) as refused:
            await tunnel.start()
        said = refused.value.user_message
        assert f"localhost:{account.local_port}" in said and "another program" in said
        assert f"process {os.getpid()}" in said  # named: this test's process holds it
        assert "its panel" in said
        assert tunnel.port == account.local_port  # it did not go elsewhere

        # and giving the account that port again, or a connect asking for it, is refused
        with pytest.raises(InvalidInput, match="taken by another program"):
            await local_port.change(rt, account.id, account.local_port + 0)
        with pytest.raises(InvalidInput, match="taken by another program"):
            await provisioner(rt).connect(request("demo", local_port=account.local_port))
    finally:
        other.close()
    tunnel = KeptTunnel(rt, account.id)
    try:
        assert await tunnel.start() == account.local_port  # freed: the account's again
    finally:
        await tunnel.close()


async def test_a_new_account_skips_ports_in_use(sandbox: Sandbox, rt: Runtime) -> None:
    first = await provisioner(rt).connect(request("paper"))
    assert first.local_port is not None
    held = socket.socket()
    held.bind(("127.0.0.1", first.local_port + 1))
    held.listen()
    try:
        second = await provisioner(rt).connect(request("demo"))
    finally:
        held.close()
    assert second.local_port is not None and second.local_port > first.local_port + 1
    with pytest.raises(InvalidInput, match=f"already account {first.id}'s"):
        await local_port.change(rt, second.id, first.local_port)
    assert rt.repository.require_account(second.id).local_port == second.local_port
    assert first.do_server_status is ServerStatus.RUNNING
