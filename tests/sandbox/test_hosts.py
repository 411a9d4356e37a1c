"""The simulated droplets over real SSH: keys, firewall, SFTP, commands, forwarding."""

from __future__ import annotations

import asyncssh
import httpx
import pytest

from ibdesk.cloud import DigitalOceanClient, FirewallSpec, InboundRule, RuleTarget
from ibdesk.domain import ibeam as ib
from ibdesk.sandbox import Sandbox
from tests.helpers.sandbox import advance, boot_machine, deliver, write_file


async def test_only_registered_keys_and_root_get_in(sandbox: Sandbox,
                                                    do: DigitalOceanClient) -> None:
    machine = await boot_machine(sandbox, do)
    async with machine.connect() as conn:
        assert (await conn.run("true")).exit_status == 0
    stranger = asyncssh.generate_private_key("ssh-ed25519")
    with pytest.raises(asyncssh.PermissionDenied):
        async with machine.connect(client_keys=[stranger]):
            pass
    with pytest.raises(asyncssh.PermissionDenied):
        async with machine.connect(username="admin"):
            pass
    # a key registered with DigitalOcean but not given at create does not open it either
    other = asyncssh.generate_private_key("ssh-ed25519")
    await do.create_ssh_key("other", other.export_public_key().decode())
    with pytest.raises(asyncssh.PermissionDenied):
        async with machine.connect(client_keys=[other]):
            pass
    with pytest.raises(asyncssh.PermissionDenied):
        async with machine.connect(password="hunter2", client_keys=None):
            pass


async def test_host_key_is_the_droplets_own(sandbox: Sandbox, do: DigitalOceanClient) -> None:
    one = await boot_machine(sandbox, do, name="a-ib-demo-1")
    two = await boot_machine(sandbox, do, name="b-ib-demo-1")
    keys = []
    for machine in (one, two):
        async with machine.connect() as conn:
            keys.append(conn.get_server_host_key().export_public_key())
    assert keys[0] != keys[1]


async def test_cloud_firewall_is_honoured(sandbox: Sandbox, do: DigitalOceanClient) -> None:
    machine = await boot_machine(sandbox, do)
    fw = await do.create_firewall(FirewallSpec(name="ibdesk-ssh", tags=["ibdesk"], inbound_rules=[
        InboundRule(protocol="tcp", ports="22", sources=RuleTarget(addresses=["192.0.2.1/32"]))]))
    with pytest.raises((asyncssh.DisconnectError, ConnectionError)):
        async with machine.connect():
            pass
    spec = FirewallSpec(name="ibdesk-ssh", tags=["ibdesk"], inbound_rules=[InboundRule(
        protocol="tcp", ports="22",
        sources=RuleTarget(addresses=[sandbox.world.config.workstation_ip]))])
    await do.update_firewall(fw.id, spec)
    async with machine.connect() as conn:
        assert (await conn.run("true")).exit_status == 0


async def test_sftp_writes_real_files_with_their_modes(sandbox: Sandbox,
                                                        do: DigitalOceanClient) -> None:
    machine = await boot_machine(sandbox, do)
    async with machine.connect() as conn, conn.start_sftp_client() as sftp:
        await sftp.makedirs(ib.SECRETS_DIR, exist_ok=True)
        await write_file(sftp, ib.PASSWORD_FILE, b"pa$$ 'w\"ord\n\xc3\xb1")
        assert (await sftp.stat(ib.PASSWORD_FILE)).permissions & 0o777 == 0o600
    host = sandbox.host(machine.droplet.id)
    data, mode = host.read_file(ib.PASSWORD_FILE)
    assert data == b"pa$$ 'w\"ord\n\xc3\xb1" and mode == 0o600
    with pytest.raises(FileNotFoundError):
        host.read_file("/../../etc/passwd")


async def test_commands(sandbox: Sandbox, do: DigitalOceanClient) -> None:
    machine = await boot_machine(sandbox, do)
    async with machine.connect() as conn:
        clock = await conn.run(ib.CLOCK_COMMAND)
        assert abs(int(clock.stdout) - sandbox.world.now()) < 5
        assert "status: done" in (await conn.run(ib.CLOUD_INIT_STATUS_COMMAND)).stdout
        # Type=simple: systemctl succeeds, then `docker run` fails on the missing env file
        assert (await conn.run(ib.START_COMMAND)).exit_status == 0
        status = await conn.run(ib.STATUS_COMMAND)
        assert status.exit_status == 3 and status.stdout.strip() == "failed"
        assert any(ib.ENV_FILE in line for line in sandbox.host(
            machine.droplet.id).systemd.journal)
        unknown = await conn.run("rm -rf / ; echo pwned")
        assert unknown.exit_status == 127 and "command not found" in unknown.stderr
    bare = await boot_machine(sandbox, do, name="bare-ib-demo-1", cloud_init=False)
    async with bare.connect() as conn:
        result = await conn.run(ib.START_COMMAND)
        assert result.exit_status == 5 and "ibeam.service not found" in result.stderr


async def test_forwarding_reaches_ibeam_only_when_it_listens(sandbox: Sandbox,
                                                              do: DigitalOceanClient) -> None:
    machine = await boot_machine(sandbox, do)
    async with machine.connect() as conn:
        with pytest.raises(asyncssh.ChannelOpenError):
            await conn.open_connection("127.0.0.1", ib.HEALTH_PORT)
        with pytest.raises(asyncssh.ChannelOpenError):
            await conn.open_connection("10.0.0.1", 22)  # nowhere else either
    await deliver(machine, "jdoe123", "s3cret pass")
    async with machine.connect() as conn:
        health = await conn.forward_local_port("127.0.0.1", 0, "127.0.0.1", ib.HEALTH_PORT)
        gateway = await conn.forward_local_port("127.0.0.1", 0, "127.0.0.1", ib.GATEWAY_PORT)
        async with httpx.AsyncClient(verify=False) as client:
            live = await client.get(f"http://127.0.0.1:{health.get_port()}/livez")
            assert (live.status_code, live.text) == (200, "OK")
            ready = await client.get(f"http://127.0.0.1:{health.get_port()}/readyz")
            assert ready.status_code == 503
            await advance(sandbox, sandbox.options.login_seconds)
            ready = await client.get(f"http://127.0.0.1:{health.get_port()}/readyz")
            assert (ready.status_code, ready.text) == (200, "OK")
            status = await client.post(
                f"https://127.0.0.1:{gateway.get_port()}/v1/api/iserver/auth/status")
            assert status.json()["authenticated"] is True
        assert (await conn.run(ib.STATUS_COMMAND)).stdout.strip() == "active"


async def test_power_off_closes_ssh_and_boot_restarts_ibeam(sandbox: Sandbox,
                                                            do: DigitalOceanClient) -> None:
    machine = await boot_machine(sandbox, do)
    await deliver(machine, "jdoe123", "s3cret pass")
    await advance(sandbox, 5)
    host = sandbox.host(machine.droplet.id)
    assert host.ibeam.session.authenticated
    await do.droplet_action(machine.droplet.id, "shutdown")
    await advance(sandbox, 10)
    assert not host.running and host.ibeam.state == "exited"
    with pytest.raises(OSError):
        async with machine.connect():
            pass
    await do.droplet_action(machine.droplet.id, "power_on")
    await advance(sandbox, 10)
    assert host.running and host.ibeam.state == "running"  # the unit was enabled
    await advance(sandbox, 5)
    assert host.ibeam.session.authenticated


@pytest.mark.parametrize("rtt_ms", [0, 20])
async def test_a_droplet_whose_port_was_taken_while_off_comes_back_on_another(
        rtt_ms: int) -> None:
    """At 1,000 droplets another droplet's listener or an outgoing connection takes a
    stopped one's port ("address already in use" stopped `sandbox serve`); the client
    finds the new one through the port map."""
    import socket

    from ibdesk.gateway.ssh import resolve_endpoint
    from tests.helpers.sandbox import fast_options

    async with Sandbox(fast_options(droplet_rtt_ms=rtt_ms)) as sandbox, \
            DigitalOceanClient(sandbox.token, base_url=sandbox.api_url) as do:
        machine = await boot_machine(sandbox, do)
        kept = machine.ssh_port
        await do.droplet_action(machine.droplet.id, "shutdown")
        await advance(sandbox, 10)
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", kept))
            squatter.listen()
            await do.droplet_action(machine.droplet.id, "power_on")
            await advance(sandbox, 10)
            assert sandbox.host(machine.droplet.id).running
            assert machine.ssh_port != kept
            mapped = await resolve_endpoint(machine.droplet.public_ipv4 or "",
                                            sandbox_map_url=sandbox.ssh_map_url,
                                            token=sandbox.token)
            assert mapped.port == machine.ssh_port
            async with machine.connect() as conn:
                assert (await conn.run("true")).exit_status == 0


async def test_destroy_removes_host_and_disk(sandbox: Sandbox, do: DigitalOceanClient) -> None:
    machine = await boot_machine(sandbox, do)
    root = sandbox.host(machine.droplet.id).root
    assert root.exists()
    await do.delete_droplet(machine.droplet.id)
    await sandbox.sync_hosts()
    assert machine.droplet.id not in sandbox.hosts and not root.exists()


async def test_seed_snapshot_has_the_seeds_files(do: DigitalOceanClient) -> None:
    from tests.helpers.sandbox import fast_options

    async with Sandbox(fast_options(with_seed_image=True)) as seeded:
        async with DigitalOceanClient(seeded.token, base_url=seeded.api_url) as client:
            machine = await boot_machine(seeded, client, image=182556282, cloud_init=False)
            async with machine.connect() as conn, conn.start_sftp_client() as sftp:
                assert await sftp.exists(ib.SEED_ENV_FILE)
                assert await sftp.exists("/root/starter.sh")
                # the seed's starter mounts nothing: the env file carries the values
                await write_file(sftp, ib.SEED_ENV_FILE, ib.render_seed_env_list(
                    ib.IBeamSettings(environment="paper"), username="jdoe123",
                    password="s3cret pass").encode())
                assert (await conn.run(ib.SEED_STARTER_COMMAND)).exit_status == 0
            await advance(seeded, 5)
            state = seeded.host(machine.droplet.id).ibeam.describe()
    assert state["authenticated"] and state["paper"]
