"""The droplet's software as the sandbox now runs it: what ibdesk really put there, read
as cloud-init, systemd and Docker read it, with IBeam as uid 1000.

Each test here is a way the old sandbox agreed with ibdesk's mistakes (the ground-truth
issue's points 1, 5, 6, 7 and 11): the sandbox must now refuse, or show, what a real
droplet does.
"""

from __future__ import annotations

import asyncio

import asyncssh

from ibdesk.cloud import DigitalOceanClient
from ibdesk.cloud.userdata import UNIT_PATH, render_unit
from ibdesk.domain import ibeam as ib
from ibdesk.domain.cloudinit import parse_status
from ibdesk.gateway.probe import HEALTH_TIMEOUT
from ibdesk.sandbox import Sandbox
from ibdesk.sandbox.firstboot import OUTPUT_LOG
from tests.helpers.sandbox import advance, boot_machine, deliver


async def _logs(machine, merged: bool = True) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    async with machine.connect() as conn:
        result = await conn.run(ib.logs_command(200) if merged else "docker logs ibeam")
    return str(result.stdout), str(result.stderr)


async def test_root_owned_secret_files_make_ibeam_shut_down(sandbox: Sandbox,
                                                            do: DigitalOceanClient) -> None:
    """Point 1: files as the first ibdesk wrote them (root 0600) are unreadable to the
    container's uid 1000; `systemctl restart ibeam` still says 0."""
    machine = await boot_machine(sandbox, do)
    await deliver(machine, "jdoe123", "s3cret pass", owner=None, mode=0o600)
    host = sandbox.host(machine.droplet.id)
    assert host.systemd.is_active("ibeam") == "active"  # started "successfully"
    await advance(sandbox, 5)
    out, _ = await _logs(machine)
    assert "Unable to read env value for IBEAM_ACCOUNT as a file." in out
    assert "Account cannot be None" in out and "Shutting IBeam down" in out
    assert host.container is not None and host.container.state == "exited"


async def test_a_root_only_secrets_folder_hides_the_files(sandbox: Sandbox,
                                                         do: DigitalOceanClient) -> None:
    machine = await boot_machine(sandbox, do)
    host = sandbox.host(machine.droplet.id)
    host.disk.chown(ib.SECRETS_DIR, 0, 0)  # the folder as the first ibdesk's cloud-init made it
    await deliver(machine, "jdoe123", "s3cret pass")
    await advance(sandbox, 5)
    out, _ = await _logs(machine)
    assert "Unable to read env value for IBEAM_ACCOUNT: value is not a file" in out


async def test_ibeams_own_layout_logs_in(sandbox: Sandbox, do: DigitalOceanClient) -> None:
    machine = await boot_machine(sandbox, do)
    host = sandbox.host(machine.droplet.id)
    assert host.disk.owner(ib.SECRETS_DIR) == host.disk.owner(ib.OUTPUTS_DIR) == (1000, 1000)
    await deliver(machine, "jdoe123", "s3cret pass")
    await advance(sandbox, 5)
    assert host.ibeam.session.authenticated
    assert host.container is not None and host.container.config.user == (1000, 1000)


async def test_a_root_owned_outputs_folder_fails_before_the_first_line(
        sandbox: Sandbox, do: DigitalOceanClient) -> None:
    machine = await boot_machine(sandbox, do)
    host = sandbox.host(machine.droplet.id)
    host.disk.chown(ib.OUTPUTS_DIR, 0, 0)
    host.disk.host(ib.OUTPUTS_DIR).chmod(0o755)
    await deliver(machine, "jdoe123", "s3cret pass")
    out, err = await _logs(machine, merged=False)
    assert "Starting IBeam" not in out
    assert "PermissionError: [Errno 13] Permission denied: '/srv/outputs/ibeam_log__" in err
    assert host.container is not None and host.container.exit_code == 1
    async with machine.connect() as conn:
        assert (await conn.run(ib.STATUS_COMMAND)).stdout.strip() == "failed"


async def test_rm_deletes_the_container_and_its_log(sandbox: Sandbox,
                                                   do: DigitalOceanClient) -> None:
    """Point 5: with `docker run --rm`, IBeam's fatal exit takes its log with it."""
    machine = await boot_machine(sandbox, do)
    host = sandbox.host(machine.droplet.id)
    host.disk.write(UNIT_PATH, render_unit().replace("docker run ", "docker run --rm ").encode())
    await deliver(machine, "livetrader", "live-pass",
                  settings=ib.IBeamSettings(environment="live"))  # no 2FA handler: a shutdown
    await advance(sandbox, 5)
    async with machine.connect() as conn:
        logs = await conn.run(ib.logs_command(200))
        state = await conn.run(ib.CONTAINER_STATE_COMMAND)
    assert logs.exit_status == 1 and "No such container" in str(logs.stderr)
    assert state.exit_status == 1 and "No such object" in str(state.stderr)
    # ibdesk's own unit keeps both
    host.disk.write(UNIT_PATH, render_unit().encode())
    async with machine.connect() as conn:
        await conn.run(ib.START_COMMAND)
    await advance(sandbox, 5)
    out, _ = await _logs(machine)
    assert "No 2FA handler found" in out
    assert host.container is not None and host.container.state == "exited"


async def test_the_docker_one_click_limits_ssh(sandbox: Sandbox, do: DigitalOceanClient) -> None:
    """Point 6: the legacy Docker 1-Click turns on `ufw limit ssh` (6 per 30 s)."""
    machine = await boot_machine(sandbox, do, image="docker-20-04", cloud_init=False)
    for _ in range(6):
        async with machine.connect() as conn:
            await conn.run("true")
    try:
        async with machine.connect():
            raise AssertionError("the 7th connection in 30 s got in")
    except asyncssh.DisconnectError as exc:
        assert "ufw" in exc.reason
    stock = await boot_machine(sandbox, do, name="stock-ib-demo-1")
    for _ in range(8):
        async with stock.connect() as conn:
            await conn.run("true")


async def test_first_boot_takes_time_and_says_how_far(sandbox: Sandbox,
                                                     do: DigitalOceanClient) -> None:
    """Point 7's ground: cloud-init runs the user_data given, in simulated time."""
    await boot_machine(sandbox, do, name="slow-ib-demo-1", cloud_init=False)  # the key
    from ibdesk.cloud import DropletCreate
    from ibdesk.cloud.userdata import render_cloud_init

    key = (await do.list_ssh_keys())[0]
    created, _ = await do.create_droplet(DropletCreate(
        name="fresh-ib-demo-1", region="nyc1", size="s-1vcpu-1gb", image="ubuntu-24-04-x64",
        ssh_keys=[key.id or 0], tags=["ibdesk"], user_data=render_cloud_init()))
    await advance(sandbox, sandbox.options.boot_seconds)
    host = sandbox.host(created.id)
    running = parse_status(*host.first_boot.status(long=True))
    assert running.status == "running" and not running.finished
    assert not host.docker.installed
    await advance(sandbox, sandbox.options.first_boot_seconds)
    done = parse_status(*host.first_boot.status(long=True))
    assert done.finished and not done.failed and not done.degraded
    assert host.docker.installed and "voyz/ibeam:0.5.12" in host.docker.images()
    assert host.systemd.enabled("ibeam")
    log = host.disk.host(OUTPUT_LOG).read_text()
    assert "Setting up docker.io" in log and "Downloaded newer image for voyz/ibeam:0.5.12" in log


async def test_a_degraded_first_boot_exits_2_and_an_unknown_command_fails_it(
        sandbox: Sandbox, do: DigitalOceanClient) -> None:
    sandbox.world.faults.cloud_init_degraded = 1
    machine = await boot_machine(sandbox, do, name="degraded-ib-demo-1")
    async with machine.connect() as conn:
        result = await conn.run(ib.CLOUD_INIT_STATUS_COMMAND)
    status = parse_status(str(result.stdout), result.exit_status or 0)
    assert result.exit_status == 2 and status.finished and status.degraded
    assert not status.failed and "degraded done" in str(result.stdout)
    host = sandbox.host(machine.droplet.id)
    host.first_boot.begin("#cloud-config\nruncmd:\n  - [curl, -fsSL, https://example.com]\n")
    await advance(sandbox, sandbox.options.first_boot_seconds)
    text, code = host.first_boot.status(long=True)
    failed = parse_status(text, code)
    assert code == 1 and failed.failed and "Runparts: 1 failures" in failed.errors[0]


async def test_health_server_speaks_http_1_0_and_closes(sandbox: Sandbox,
                                                       do: DigitalOceanClient) -> None:
    """Point 11: one answer per connection, no Content-Length, then the close."""
    machine = await boot_machine(sandbox, do)
    await deliver(machine, "jdoe123", "s3cret pass")
    async with machine.connect() as conn:
        reader, writer = await conn.open_connection("127.0.0.1", ib.HEALTH_PORT)
        writer.write(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\nGET /livez HTTP/1.1\r\n\r\n")
        raw = (await asyncio.wait_for(reader.read(), 5)).decode()  # returns: it closed
    head, _, body = raw.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.0 200 OK") and body == "OK"
    assert "content-length" not in head.lower() and raw.count("HTTP/1.0") == 1
    _, err = await _logs(machine, merged=False)
    assert '"GET /livez HTTP/1.1" 200 -' in err  # IBeam's server logs each request


async def test_a_slow_readyz_is_waited_for(sandbox: Sandbox, do: DigitalOceanClient) -> None:
    """IBeam's /readyz tickles the gateway with a 15-second timeout: a probe that gave up
    at 10 s saw a live IBeam as dead."""
    from ibdesk.gateway.probe import health_request
    from ibdesk.gateway.ssh import Remote

    assert HEALTH_TIMEOUT > 15
    machine = await boot_machine(sandbox, do)
    await deliver(machine, "jdoe123", "s3cret pass")
    await advance(sandbox, 5)
    sandbox.host(machine.droplet.id).set_gateway_faults(readyz_delay_seconds=10.5)
    async with machine.connect() as conn:
        status, body = await health_request(Remote(conn, ""), "/readyz")
    assert (status, body) == (200, "OK")


async def test_owners_without_root_are_kept_and_checked_the_same_way() -> None:
    """A person's own sandbox cannot chown to uid 1000: it keeps owners in a table, and
    IBeam's reading of its files follows them exactly as the kernel would."""
    from tests.helpers.sandbox import fast_options

    async with Sandbox(fast_options(real_owners=False)) as sandbox:
        async with DigitalOceanClient(sandbox.token, base_url=sandbox.api_url) as do:
            machine = await boot_machine(sandbox, do)
            host = sandbox.host(machine.droplet.id)
            assert not host.disk.real_owners
            assert host.disk.owner(ib.SECRETS_DIR) == (1000, 1000)  # made by cloud-init
            await deliver(machine, "jdoe123", "s3cret pass")
            assert host.disk.owner(ib.PASSWORD_FILE) == (1000, 1000)  # chowned over SFTP
            async with machine.connect() as conn, conn.start_sftp_client() as sftp:
                attrs = await sftp.stat(ib.PASSWORD_FILE)
            assert (attrs.uid, attrs.gid, attrs.permissions & 0o777) == (1000, 1000, 0o400)
            await advance(sandbox, 5)
            assert host.ibeam.session.authenticated
            async with machine.connect() as conn, conn.start_sftp_client() as sftp:
                for path in (ib.ACCOUNT_FILE, ib.PASSWORD_FILE):
                    await sftp.remove(path)
            await deliver(machine, "jdoe123", "s3cret pass", owner=None, mode=0o600)
            assert host.disk.owner(ib.PASSWORD_FILE) == (0, 0)  # a new file: root's
            await advance(sandbox, 5)
            out, _ = await _logs(machine)
            assert "Unable to read env value for IBEAM_ACCOUNT as a file." in out


async def test_the_probe_reuses_a_health_connection_only_where_the_server_keeps_it() -> None:
    """IBeam's HTTP/1.0 server costs a channel per request; the benchmark's keep-alive
    server (`--health keepalive`) one for all, spoken to by the same probe."""
    from ibdesk.sandbox.ibeam import HealthServer
    from tests.helpers.sandbox import fast_options, logged_in_probe

    opened = {}
    for kind in HealthServer:
        async with Sandbox(fast_options(health_server=kind)) as sandbox, \
                logged_in_probe(sandbox) as prober:
            for _ in range(3):
                health = await prober.probe()
                assert health.readyz and health.authenticated, health
            opened[kind] = (prober.health.opened, prober.gateway.opened)
    assert opened == {HealthServer.HTTP10: (3, 1), HealthServer.KEEPALIVE: (1, 1)}
