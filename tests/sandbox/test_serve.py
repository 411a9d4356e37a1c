"""`ibdesk sandbox serve` as a real process, and `--state` across restarts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import asyncssh
import httpx

from ibdesk.cloud import DigitalOceanClient
from ibdesk.domain import ibeam as ib
from ibdesk.sandbox import Sandbox
from tests.helpers import IBDESK, until
from tests.helpers.sandbox import advance, boot_machine, deliver, fast_options


def _serve(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*IBDESK, "sandbox", "serve", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return err


def test_serve_json_first_line_and_state(tmp_path: Path) -> None:
    users = tmp_path / "users.json"
    users.write_text(json.dumps({"users": [{"username": "u1", "password": "p1"}]}))
    state = tmp_path / "world.json"
    proc = _serve("--json", "--boot-seconds", "0.2", "--ibkr-users", str(users),
                  "--state", str(state), "--droplet-limit", "3")
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert set(info) >= {"api_url", "token", "ssh_map_url", "public_ip_url"}
        assert info["ibkr_users"] == ["u1"]
        headers = {"Authorization": f"Bearer {info['token']}"}
        account = httpx.get(f"{info['api_url']}/v2/account", headers=headers).json()
        assert account["account"]["droplet_limit"] == 3
        created = httpx.post(f"{info['api_url']}/v2/droplets", headers=headers, json={
            "name": "u1-ib-demo-1", "region": "nyc1", "size": "s-1vcpu-1gb",
            "image": "docker-20-04"}).json()["droplet"]
    finally:
        _stop(proc)
    assert state.exists()

    proc = _serve("--json", "--state", str(state))
    try:
        assert proc.stdout is not None
        again = json.loads(proc.stdout.readline())
        assert again["token"] == info["token"]  # the saved token keeps working
        got = httpx.get(f"{again['api_url']}/v2/droplets/{created['id']}",
                        headers={"Authorization": f"Bearer {again['token']}"})
        assert got.status_code == 200 and got.json()["droplet"]["name"] == "u1-ib-demo-1"
    finally:
        _stop(proc)


def test_serve_human_output_and_bad_users_file(tmp_path: Path) -> None:
    proc = _serve()
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(5)]
        assert "API URL" in lines[1] and "token" in lines[2]
        assert "sandboxdemo" in lines[3]
    finally:
        _stop(proc)
    bad = subprocess.run([*IBDESK, "sandbox", "serve", "--ibkr-users",
                          str(tmp_path / "missing.json")], capture_output=True, text=True,
                         timeout=60, check=False)
    assert bad.returncode == 1 and bad.stderr.startswith("ibdesk: The IBKR users file")


async def test_restart_keeps_droplets_host_keys_and_ibeam(tmp_path: Path) -> None:
    state = tmp_path / "world.json"
    async with Sandbox(fast_options(state=state)) as first:
        async with DigitalOceanClient(first.token, base_url=first.api_url) as do:
            machine = await boot_machine(first, do)
            await deliver(machine, "jdoe123", "s3cret pass")
            await advance(first, 5)
        async with machine.connect() as conn:
            host_key = conn.get_server_host_key().export_public_key()
        token = first.token
    async with Sandbox(fast_options(state=state)) as second:
        assert second.token == token
        machine.sandbox = second
        host = second.host(machine.droplet.id)
        assert host.ibeam.state == "running"  # systemd starts IBeam again at boot
        async with machine.connect(known_hosts=None) as conn:
            assert conn.get_server_host_key().export_public_key() == host_key
            data = await (await conn.start_sftp_client()).open(ib.ENV_FILE)
            assert "IBEAM_SECRETS_SOURCE=fs" in await data.read()
        await advance(second, 5)
        assert host.ibeam.session.authenticated


async def test_ssh_map_endpoint(sandbox: Sandbox, do: DigitalOceanClient) -> None:
    machine = await boot_machine(sandbox, do)
    headers = {"Authorization": f"Bearer {sandbox.token}"}
    async with httpx.AsyncClient(headers=headers) as client:
        found = (await client.get(f"{sandbox.ssh_map_url}/{machine.droplet.public_ipv4}")).json()
        missing = await client.get(f"{sandbox.ssh_map_url}/192.0.2.99")
        ip = (await client.get(sandbox.public_ip_url)).text
    assert found == {"ip": machine.droplet.public_ipv4, "host": "127.0.0.1",
                     "port": machine.ssh_port}
    assert missing.status_code == 404
    assert ip == sandbox.world.config.workstation_ip
    async with asyncssh.connect(found["host"], found["port"], username="root",
                                client_keys=[machine.key], known_hosts=None) as conn:
        assert (await conn.run("true")).exit_status == 0


async def test_the_world_is_saved_only_when_it_changed(tmp_path: Path) -> None:
    """Issue 18: the sandbox rewrote its world file every 2 s whether anything changed or
    not (a 1,000-droplet world is 2.8 MB: ~11 % of a core). It is written when the API
    changes something, and by the tick only when time changed the saved state."""
    import asyncio

    state = tmp_path / "world.json"
    async with Sandbox(fast_options(state=state)) as sandbox:
        sandbox.world.revision += 1  # what the start left unsaved (none in practice)
        sandbox.save()
        before = sandbox.saves
        async with DigitalOceanClient(sandbox.token, base_url=sandbox.api_url) as do:
            await do.list_droplets()  # reads change nothing
        await asyncio.sleep(2.6)  # nothing to await: what must not happen in the tick's 2 s
        assert sandbox.saves == before
        async with DigitalOceanClient(sandbox.token, base_url=sandbox.api_url) as do:
            machine = await boot_machine(sandbox, do)  # the API's changes: saved as made
            assert sandbox.saves > before
            await do.droplet_action(machine.droplet.id, "power_off")
        await advance(sandbox, 15)  # the action completes: the tick saves the new power
        applied = sandbox.world.revision
        # Not a count of saves: the tick may also save the create's own action, applied
        # while booting, after the power-off request was saved (CI saw that race).
        await until(lambda: sandbox.saved_revision >= applied, 10)
        saved = json.loads(state.read_text())
        assert [d["power"] for d in saved["droplets"]] == ["off"]
