"""The production SSH path against the sandbox's SSH host: delivery, pinning, commands."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import asyncssh
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ibdesk.cloud import DigitalOceanClient
from ibdesk.domain import ibeam as ib
from ibdesk.domain.errors import GatewayUnreachable
from ibdesk.gateway import ALLOWED_COMMANDS, Endpoint, HostKeyChanged, connect, resolve_endpoint
from ibdesk.sandbox import Sandbox
from ibdesk.sandbox.runner import SandboxThread
from tests.helpers.sandbox import Machine, boot_machine, fast_options
from tests.helpers.strategies import PASSWORDS


@pytest.fixture(scope="module")
def machine() -> Iterator[tuple[SandboxThread, Machine, Endpoint]]:
    runner = SandboxThread(fast_options())
    runner.start()

    async def boot(sb: Sandbox) -> Machine:
        async with DigitalOceanClient(sb.token, base_url=sb.api_url) as client:
            return await boot_machine(sb, client)

    try:
        booted = runner.call(boot)
        sandbox = runner.sandbox
        endpoint = asyncio.run(resolve_endpoint(booted.droplet.public_ipv4 or "",
                                                sandbox_map_url=sandbox.ssh_map_url,
                                                token=sandbox.token))
        yield runner, booted, endpoint
    finally:
        runner.stop()


def _private(machine: Machine) -> str:
    return machine.key.export_private_key().decode()


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(password=PASSWORDS, username=st.text(alphabet="abcdefghijklmnop0123456789_.-",
                                            min_size=1, max_size=20))
def test_any_password_arrives_byte_exact(machine: tuple[SandboxThread, Machine, Endpoint],
                                         password: str, username: str) -> None:
    runner, booted, endpoint = machine

    async def deliver() -> None:
        async with connect(endpoint, _private(booted), pinned_host_key=None) as remote:
            await remote.write_files({
                ib.ACCOUNT_FILE: username.encode(), ib.PASSWORD_FILE: password.encode()},
                owner=(ib.CONTAINER_UID, ib.CONTAINER_GID))
            await remote.write_files({ib.ENV_FILE: ib.render_env_list(
                ib.IBeamSettings(environment="paper")).encode()}, mode=ib.ENV_FILE_MODE)
            code, _, err = await remote.run(ib.START_COMMAND)
            assert code == 0, err

    asyncio.run(deliver())
    host = runner.sandbox.host(booted.droplet.id)
    # what IBeam, as uid 1000, reads from the files
    assert host.ibeam._secret("IBEAM_PASSWORD") == password
    assert host.ibeam._secret("IBEAM_ACCOUNT") == username
    data, mode = host.read_file(ib.PASSWORD_FILE)
    assert data == password.encode() and mode == 0o400
    assert host.disk.owner(ib.PASSWORD_FILE) == (ib.CONTAINER_UID, ib.CONTAINER_GID)
    assert not any(p.name.endswith(".ibdesk-new") for p in (host.root / "etc/ibeam/secrets")
                   .iterdir())


def test_pinning_and_the_fixed_command_list(
        machine: tuple[SandboxThread, Machine, Endpoint]) -> None:
    _, booted, endpoint = machine

    async def check() -> None:
        async with connect(endpoint, _private(booted), pinned_host_key=None) as remote:
            learned = remote.host_key
            # AES-GCM, not asyncssh's default ChaCha20 (a third of the monitor's CPU)
            assert remote._conn.get_extra_info("send_cipher") == "aes128-gcm@openssh.com"
            with pytest.raises(ValueError, match="fixed commands"):
                await remote.run("cat /etc/ibeam/secrets/password")
            assert (await remote.run("true"))[0] == 0
        async with connect(endpoint, _private(booted), pinned_host_key=learned) as remote:
            assert remote.host_key == learned
        other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
        with pytest.raises(HostKeyChanged, match="identity changed"):
            async with connect(endpoint, _private(booted), pinned_host_key=other):
                pass
        stranger = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
        with pytest.raises(GatewayUnreachable, match="refused ibdesk's SSH key"):
            async with connect(endpoint, stranger, pinned_host_key=None):
                pass
        with pytest.raises(GatewayUnreachable, match="does not answer on SSH"):
            async with connect(Endpoint("127.0.0.1", 9), _private(booted), pinned_host_key=None,
                               timeout=2):
                pass

    asyncio.run(check())
    assert all("$" not in c and ";" not in c for c in ALLOWED_COMMANDS)


def test_resolve_endpoint_outside_the_sandbox_is_port_22() -> None:
    assert asyncio.run(resolve_endpoint("198.51.100.7", sandbox_map_url=None, token=None)) == \
        Endpoint("198.51.100.7", 22)
