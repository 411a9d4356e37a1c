"""Start, stop, restart, delete, status and the tunnel, over the sandbox."""

from __future__ import annotations

import asyncssh
import httpx
import pytest

from ibdesk.domain.enums import ServerStatus
from ibdesk.domain.errors import CloudError, StoreError
from ibdesk.sandbox import Sandbox
from ibdesk.secrets import ibkr_password
from ibdesk.services import Runtime
from ibdesk.services.control.lifecycle import Lifecycle
from ibdesk.services.control.tunnel import open_tunnel
from ibdesk.services.watch.status import StatusService
from tests.helpers import until
from tests.helpers.e2e import provisioner, request


def lifecycle(rt: Runtime, said: list[str] | None = None) -> Lifecycle:
    return Lifecycle(rt, on_progress=said.append if said is not None else None, poll=0.05)


async def test_stop_start_restart(sandbox: Sandbox, rt: Runtime) -> None:
    account = await provisioner(rt).connect(request("paper"))
    said: list[str] = []
    stopped = await lifecycle(rt, said).stop(account.id)
    assert stopped.account.do_server_status is ServerStatus.STOPPED
    assert "still bills" in stopped.decision.detail.reason
    assert sandbox.world.droplets[account.do_droplet_id or 0].power == "off"
    assert "Shutting the server down: completed" in said

    started = await lifecycle(rt).start(account.id)
    assert started.account.do_server_status in (ServerStatus.INITIALIZING, ServerStatus.RUNNING)
    checked = await StatusService(rt).check(account.id)
    for _ in range(100):
        if checked.account.do_server_status is ServerStatus.RUNNING:
            break
        checked = await StatusService(rt).check(account.id)
    assert checked.account.do_server_status is ServerStatus.RUNNING
    assert checked.health is not None and checked.health.latency_ms is not None

    restarted = await lifecycle(rt).restart(account.id)
    assert restarted.account.do_server_status is not ServerStatus.ERROR
    statuses = [e.status for e in rt.repository.history(account.id)]
    assert ServerStatus.STOPPED in statuses and statuses.count(ServerStatus.RUNNING) >= 2


async def test_stop_falls_back_to_power_off(sandbox: Sandbox, rt: Runtime) -> None:
    account = await provisioner(rt).connect(request("demo"))
    sandbox.world.faults.fail_actions["shutdown"] = 1
    said: list[str] = []
    report = await lifecycle(rt, said).stop(account.id)
    assert report.account.do_server_status is ServerStatus.STOPPED
    assert any("cutting the power" in s for s in said)


async def test_errored_action_is_an_error_status(sandbox: Sandbox, rt: Runtime) -> None:
    account = await provisioner(rt).connect(request("demo"))
    sandbox.world.faults.fail_actions["reboot"] = 1
    with pytest.raises(CloudError, match="reboot action failed"):
        await lifecycle(rt).restart(account.id)
    current = rt.repository.require_account(account.id)
    assert current.do_server_status is ServerStatus.ERROR
    assert "reboot action failed" in rt.repository.history(account.id)[-1].reason


async def test_delete_removes_droplet_secrets_and_row(sandbox: Sandbox, rt: Runtime) -> None:
    keep = await provisioner(rt).connect(request("demo"))
    gone = await provisioner(rt).connect(request("paper"))
    await lifecycle(rt).delete(gone.id)
    assert set(sandbox.world.droplets) == {keep.do_droplet_id}
    assert rt.secrets.get(ibkr_password(gone.id)) is None
    assert rt.secrets.get(ibkr_password(keep.id)) is not None
    assert rt.repository.get_account(gone.id) is None
    with pytest.raises(StoreError):
        await lifecycle(rt).delete(gone.id)


async def test_delete_when_the_droplet_is_already_gone(sandbox: Sandbox, rt: Runtime) -> None:
    account = await provisioner(rt).connect(request("demo"))
    sandbox.world.vanish(account.do_droplet_id or 0)
    await sandbox.sync_hosts()
    report = await StatusService(rt).check(account.id)
    assert report.account.do_server_status is ServerStatus.ERROR
    assert "no longer exists" in report.decision.detail.reason
    await lifecycle(rt).delete(account.id)
    assert rt.repository.list_accounts() == []


async def test_status_reports_competing_and_refused(sandbox: Sandbox, rt: Runtime) -> None:
    account = await provisioner(rt).connect(request("paper"))
    host = sandbox.host(account.do_droplet_id or 0)
    host.ibeam.set_faults(competing=True)
    report = await StatusService(rt).check(account.id)
    assert report.account.do_server_status is ServerStatus.RUNNING
    assert report.decision.detail.competing and "Another session" in (
        report.decision.detail.warning or "")
    host.ibeam.set_faults(competing=False, down=True)
    down = await StatusService(rt).check(account.id)
    assert down.account.do_server_status is ServerStatus.INITIALIZING
    assert down.decision.detail.authenticated is not True


async def test_a_changed_host_key_is_refused(sandbox: Sandbox, rt: Runtime) -> None:
    account = await provisioner(rt).connect(request("demo"))
    droplet = sandbox.world.droplets[account.do_droplet_id or 0]
    host = sandbox.host(droplet.id)
    await host.stop()
    droplet.host_key = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    await host.start()
    report = await StatusService(rt).check(account.id)
    assert report.health is not None and "identity changed" in (report.health.error or "")
    assert report.account.host_key_pin == account.host_key_pin is not None


async def test_tunnel_reaches_the_gateway(sandbox: Sandbox, rt: Runtime) -> None:
    account = await provisioner(rt).connect(request("paper"))
    async with open_tunnel(rt, account.id, 0) as port:
        async with httpx.AsyncClient(verify=False) as client:
            status = await client.post(f"https://localhost:{port}/v1/api/iserver/auth/status")
    assert status.json()["authenticated"] is True
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(verify=False) as client:
            await client.get(f"https://localhost:{port}/v1/api/tickle")


async def test_a_kept_tunnel_comes_back_on_the_same_port_after_a_restart(
        sandbox: Sandbox, rt: Runtime) -> None:
    """Issue 14, point 2: the tunnel died silently on Stop, Start or Restart while ibdesk
    still showed its URL. Kept, it says it is down and comes back on the same port."""
    from ibdesk.services.control.lifecycle import Lifecycle
    from ibdesk.services.control.tunnel import KeptTunnel, TunnelEvent, TunnelState

    account = await provisioner(rt).connect(request("paper"))
    events: list[TunnelEvent] = []
    tunnel = KeptTunnel(rt, account.id, 0, on_event=events.append, retry_first=0.2,
                        retry_max=0.5)
    port = await tunnel.start()

    async def authenticated() -> bool:
        try:
            async with httpx.AsyncClient(verify=False, timeout=5) as client:
                answer = await client.post(
                    f"https://localhost:{port}/v1/api/iserver/auth/status")
            return answer.status_code == 200 and bool(answer.json().get("authenticated"))
        except httpx.HTTPError:
            return False

    try:
        assert await authenticated()
        await Lifecycle(rt, poll=0.05).restart(account.id)

        async def back() -> bool:
            return (any(e.state is TunnelState.DOWN for e in events)
                    and tunnel.state is TunnelState.UP and await authenticated())

        await until(back, 30, every=0.2)
        assert any(e.state is TunnelState.DOWN and "Reconnecting on port" in e.message
                   for e in events)  # said, not silent
        assert tunnel.state is TunnelState.UP and tunnel.port == port  # the same port
        assert await authenticated()
    finally:
        await tunnel.close()
    assert tunnel.state is TunnelState.DOWN and not await authenticated()


async def test_a_tunnel_whose_network_went_silent_is_noticed_and_reopened(
        sandbox: Sandbox, rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 14, point 2 (the workstation waking from sleep, a network change): nothing
    closes the SSH connection then, so a tunnel that only watched for a close said
    "https://localhost:PORT" for good while nothing answered. SSH keepalives notice."""
    from ibdesk.gateway import ssh
    from ibdesk.services.control.tunnel import KeptTunnel, TunnelEvent, TunnelState

    monkeypatch.setattr(ssh, "KEEPALIVE_INTERVAL", 0.3)
    monkeypatch.setattr(ssh, "KEEPALIVE_COUNT", 2)
    account = await provisioner(rt).connect(request("paper"))
    events: list[TunnelEvent] = []
    tunnel = KeptTunnel(rt, account.id, 0, on_event=events.append, retry_first=0.2,
                        retry_max=0.5)
    port = await tunnel.start()
    host = sandbox.host(account.do_droplet_id or 0)
    try:
        host.go_silent()
        await until(lambda: any(e.state is TunnelState.DOWN for e in events), 15)  # noticed
        await until(lambda: tunnel.state is TunnelState.UP, 15)
        assert tunnel.state is TunnelState.UP and tunnel.port == port  # back, same port
        async with httpx.AsyncClient(verify=False, timeout=5) as client:
            answer = await client.post(f"https://localhost:{port}/v1/api/iserver/auth/status")
        assert answer.json()["authenticated"] is True
    finally:
        host.go_silent(False)
        await tunnel.close()
