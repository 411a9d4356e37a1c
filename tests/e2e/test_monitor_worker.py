"""The window's monitor process: its JSON protocol over a real pipe, secrets only through
that pipe, a clean exit at the end of input."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from ibdesk.domain.enums import ServerStatus
from ibdesk.sandbox import Sandbox
from ibdesk.secrets import DO_TOKEN, SSH_PRIVATE_KEY
from ibdesk.services import Runtime
from tests.helpers import IBDESK
from tests.helpers.e2e import provisioner, request


async def _line(stream: asyncio.StreamReader) -> dict[str, Any]:
    raw = await asyncio.wait_for(stream.readline(), 60)
    assert raw, "the worker ended early"
    return dict(json.loads(raw))


async def _until(stream: asyncio.StreamReader, kind: str) -> dict[str, Any]:
    while True:
        message = await _line(stream)
        if message["type"] == kind:
            return message


async def test_worker_protocol(sandbox: Sandbox, rt: Runtime, home: Path) -> None:
    account = await provisioner(rt).connect(request("paper"))
    token, key = rt.secrets.get(DO_TOKEN), rt.secrets.get(SSH_PRIVATE_KEY)
    assert token and key
    env = {k: v for k, v in os.environ.items() if not k.startswith("IBDESK_")}
    env.update(IBDESK_DO_API_URL=sandbox.api_url, IBDESK_SANDBOX_SSH_MAP_URL=sandbox.ssh_map_url,
               IBDESK_PUBLIC_IP_URL=sandbox.public_ip_url,
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")  # nothing to read there
    argv = [*IBDESK, "--home", str(home), "monitor-worker",
            "--fast", "0.2", "--steady", "0.5"]
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env)
    assert proc.stdin and proc.stdout and proc.stderr
    try:
        proc.stdin.write((json.dumps({"token": token, "ssh_key": key}) + "\n").encode())
        await proc.stdin.drain()
        assert (await _line(proc.stdout))["type"] == "ready"
        # secrets never on the worker's command line or in its environment
        assert token not in " ".join(argv) and all(token not in v for v in env.values())

        proc.stdin.write(b'{"id": 1, "cmd": "cycle", "force": true}\n')
        await proc.stdin.drain()
        cycle = await _until(proc.stdout, "cycle")
        (update,) = cycle["updates"]
        assert update["account_id"] == account.id and update["status"] == "running"
        assert update["detail"]["latency_ms"] is not None
        assert (await _until(proc.stdout, "done")) == {"type": "done", "id": 1, "error": None}

        # a change: the gateway goes down, the worker says so as a `change` line
        sandbox.host(account.do_droplet_id or 0).ibeam.set_faults(down=True)
        proc.stdin.write(json.dumps({"id": 2, "cmd": "refresh",
                                     "account_id": account.id}).encode() + b"\n")
        await proc.stdin.drain()
        change = await _until(proc.stdout, "change")
        assert change["event"]["status"] == ServerStatus.INITIALIZING.value
        assert change["account"]["id"] == account.id
        proc.stdin.write(b'{"id": 3, "cmd": "nonsense"}\n')
        await proc.stdin.drain()
        done = await _until(proc.stdout, "done")
        assert done["id"] in (2, 3)
        if done["id"] == 2:
            done = await _until(proc.stdout, "done")
        assert "unknown command" in done["error"]
        # an interval that is not a number of seconds is refused with a sentence
        for bad in ("NaN", "Infinity", '"soon"', "-5"):
            proc.stdin.write(b'{"id": 4, "cmd": "intervals", "steady": %s}\n' % bad.encode())
            await proc.stdin.drain()
            done = await _until(proc.stdout, "done")
            assert done["id"] == 4 and "An interval must be" in done["error"], bad
        # monitoring degraded: the token revoked, the worker says so (and probes on)
        tokens = list(sandbox.world.config.tokens)
        sandbox.world.config.tokens.clear()
        try:
            proc.stdin.write(b'{"id": 5, "cmd": "cycle", "force": true}\n')
            await proc.stdin.drain()
            said = await _until(proc.stdout, "monitoring")
            assert "refused the API token" in said["degraded"]
            cycle = await _until(proc.stdout, "cycle")
            assert [u["account_id"] for u in cycle["updates"]] == [account.id]
        finally:
            sandbox.world.config.tokens[:] = tokens
        proc.stdin.write(b'{"id": 6, "cmd": "cycle", "force": true}\n')
        await proc.stdin.drain()
        assert (await _until(proc.stdout, "monitoring"))["degraded"] is None
        proc.stdin.close()
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        errors = (await proc.stderr.read()).decode()
        assert token not in errors and "Traceback" not in errors
        assert "INFO asyncssh" not in errors and "INFO httpx" not in errors  # no flood
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
