"""Helpers of the sandbox's own tests: fast options, a booted machine, delivering a login."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncssh

from ibdesk.cloud import DigitalOceanClient, Droplet, DropletCreate
from ibdesk.cloud.userdata import render_cloud_init
from ibdesk.domain import ibeam as ib
from ibdesk.gateway.probe import GatewayProbe
from ibdesk.gateway.ssh import Remote
from ibdesk.sandbox import IBKRUser, Sandbox, SandboxOptions

USERS = [IBKRUser("jdoe123", "s3cret pass"),
         IBKRUser("livetrader", "live-pass", totp_secret="JBSWY3DPEHPK3PXP")]


def fast_options(**kw: object) -> SandboxOptions:
    base: dict[str, object] = dict(boot_seconds=30, action_seconds=10, login_seconds=5,
                                   maintenance_seconds=60, users=list(USERS),
                                   tick_seconds=0.05, first_boot_seconds=20)
    base.update(kw)
    return SandboxOptions(**base)  # type: ignore[arg-type]


async def advance(sandbox: Sandbox, seconds: float) -> None:
    """Let `seconds` of simulated time pass, and the sandbox react to it."""
    sandbox.world.clock.advance(seconds)
    await sandbox.sync_hosts()
    for host in list(sandbox.hosts.values()):
        await host.advance()


@dataclass
class Machine:
    """A booted droplet and the key that opens it."""

    droplet: Droplet
    key: asyncssh.SSHKey
    sandbox: Sandbox

    @property
    def ssh_port(self) -> int:
        return self.sandbox.host_by_ip(self.droplet.public_ipv4 or "").ssh_port

    def connect(self, **kw: object) -> asyncssh.connection._ConnectionContextManager:  # type: ignore[name-defined]
        options: dict[str, object] = dict(username="root", client_keys=[self.key],
                                          known_hosts=None)
        options.update(kw)
        return asyncssh.connect("127.0.0.1", self.ssh_port, **options)  # type: ignore[arg-type]


async def boot_machine(sandbox: Sandbox, do: DigitalOceanClient, *, name: str = "jdoe-ib-demo-1",
                       cloud_init: bool = True, image: str | int = "ubuntu-24-04-x64",
                       tags: list[str] | None = None) -> Machine:
    key = asyncssh.generate_private_key("ssh-ed25519")
    registered = await do.create_ssh_key(f"k-{name}", key.export_public_key().decode())
    droplet, _ = await do.create_droplet(DropletCreate(
        name=name, region="nyc1", size="s-1vcpu-1gb", image=image,
        ssh_keys=[registered.id or 0], tags=tags or ["ibdesk"],
        user_data=render_cloud_init() if cloud_init else None))
    await advance(sandbox, sandbox.options.boot_seconds)
    if cloud_init:  # the first boot installs Docker and IBeam
        await advance(sandbox, sandbox.options.first_boot_seconds)
    droplet = await do.get_droplet(droplet.id)
    assert droplet.status == "active"
    return Machine(droplet, key, sandbox)


async def write_file(sftp: asyncssh.SFTPClient, path: str, data: bytes,
                     mode: int = 0o600, owner: tuple[int, int] | None = None) -> None:
    async with sftp.open(path, "wb", asyncssh.SFTPAttrs(permissions=mode)) as fh:
        await fh.write(data)
    if owner is not None:
        await sftp.chown(path, *owner)


IBEAM_USER = (ib.CONTAINER_UID, ib.CONTAINER_GID)


async def deliver(machine: Machine, username: str, password: str, *,
                  settings: ib.IBeamSettings | None = None, totp: str | None = None,
                  start: bool = True, owner: tuple[int, int] | None = IBEAM_USER,
                  mode: int = ib.SECRET_FILE_MODE) -> None:
    """What the provisioner does: secrets (for IBeam's user) and settings over SFTP, then
    start IBeam."""
    settings = settings or ib.IBeamSettings(environment="demo")
    async with machine.connect() as conn:
        async with conn.start_sftp_client() as sftp:
            await write_file(sftp, ib.ACCOUNT_FILE, username.encode(), mode, owner)
            await write_file(sftp, ib.PASSWORD_FILE, password.encode(), mode, owner)
            await write_file(sftp, ib.ENV_FILE,
                             ib.render_env_list(settings, totp_secret=totp).encode())
        if start:
            result = await conn.run(ib.START_COMMAND)
            assert result.exit_status == 0, result.stderr


@asynccontextmanager
async def logged_in_probe(sandbox: Sandbox) -> AsyncIterator[GatewayProbe]:
    """A booted droplet with a login delivered and IBeam logged in, and a probe of it over
    its own SSH connection, as the monitor holds one."""
    async with DigitalOceanClient(sandbox.token, base_url=sandbox.api_url) as do:
        machine = await boot_machine(sandbox, do)
        await deliver(machine, "jdoe123", "s3cret pass")
        await advance(sandbox, 5)
        async with machine.connect() as conn, GatewayProbe(Remote(conn, "")) as prober:
            yield prober
