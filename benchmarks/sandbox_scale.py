"""How the sandbox scales: start time and memory with 10, 100 and 1,000 droplets.

For each N it first builds a saved sandbox (N droplets created through the real API,
each with IBeam's settings delivered over SSH and IBeam started), then measures, in a
fresh process, how long the sandbox takes to start from that state until every
droplet's SSH host listens and its IBeam runs, and the process's resident memory.

    .venv/bin/python benchmarks/sandbox_scale.py            # 10, 100, 1000
    .venv/bin/python benchmarks/sandbox_scale.py 10 100     # a subset
"""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncssh

from ibdesk.cloud import DigitalOceanClient, DropletCreate
from ibdesk.domain import ibeam as ib
from ibdesk.sandbox import Sandbox, SandboxOptions


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def build(state: Path, n: int) -> dict[str, float]:
    options = SandboxOptions(state=state, boot_seconds=0, droplet_limit=n + 10,
                             rate_limit_per_minute=100_000, rate_limit_per_hour=100_000)
    started = time.perf_counter()
    async with Sandbox(options) as sandbox:
        key = asyncssh.generate_private_key("ssh-ed25519")
        async with DigitalOceanClient(sandbox.token, base_url=sandbox.api_url) as do:
            registered = await do.create_ssh_key("bench", key.export_public_key().decode())
            for i in range(n):
                await do.create_droplet(DropletCreate(
                    name=f"bench{i}-ib-demo-1", region="nyc1", size="s-1vcpu-1gb",
                    image="docker-20-04", ssh_keys=[registered.id or 0], tags=["ibdesk"],
                    user_data=ib.CLOUD_INIT_MARKER + "\n"))
            created = time.perf_counter()
            await sandbox.sync_hosts()
            hosts = list(sandbox.hosts.values())
            gate = asyncio.Semaphore(50)

            async def deliver(port: int) -> None:
                async with gate, asyncssh.connect("127.0.0.1", port, username="root",
                                                  client_keys=[key], known_hosts=None) as conn:
                    async with conn.start_sftp_client() as sftp:
                        await sftp.makedirs(ib.SECRETS_DIR, exist_ok=True)
                        for path, data in ((ib.ACCOUNT_FILE, "sandboxdemo"),
                                           (ib.PASSWORD_FILE, "sandbox-demo-pass"),
                                           (ib.ENV_FILE, ib.render_env_list(
                                               ib.IBeamSettings(environment="demo")))):
                            async with sftp.open(path, "w", asyncssh.SFTPAttrs(
                                    permissions=0o600)) as fh:
                                await fh.write(data)
                    result = await conn.run(ib.START_COMMAND)
                    assert result.exit_status == 0, result.stderr

            await asyncio.gather(*(deliver(h.ssh_port) for h in hosts))
            delivered = time.perf_counter()
            (state.parent / "key").write_text(key.export_private_key().decode())
    return {"create_s": created - started, "deliver_s": delivered - created}


async def measure(state: Path, n: int) -> dict[str, float]:
    base = rss_mb()
    started = time.perf_counter()
    sandbox = Sandbox(SandboxOptions(state=state, boot_seconds=0))
    await sandbox.start()
    ready = time.perf_counter()
    running = sum(1 for h in sandbox.hosts.values()
                  if h.running and h.ibeam.state == "running")
    memory = rss_mb()
    key = asyncssh.import_private_key((state.parent / "key").read_text())
    sample = list(sandbox.hosts.values())[:: max(1, n // 10)]
    connect_started = time.perf_counter()
    for host in sample:
        async with asyncssh.connect("127.0.0.1", host.ssh_port, username="root",
                                    client_keys=[key], known_hosts=None) as conn:
            assert (await conn.run(ib.STATUS_COMMAND)).stdout.strip() == "active"
    per_connect = (time.perf_counter() - connect_started) / len(sample)
    await sandbox.stop()
    return {"start_s": ready - started, "hosts_running": running, "rss_mb": memory,
            "rss_before_mb": base, "ssh_connect_ms": per_connect * 1000}


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--child":
        mode, state, n = argv[1], Path(argv[2]), int(argv[3])
        result = asyncio.run(build(state, n) if mode == "build" else measure(state, n))
        print(json.dumps(result))
        return 0
    sizes = [int(a) for a in argv] or [10, 100, 1000]
    print(f"{'N':>6} {'build (create+deliver) s':>26} {'start s':>8} {'hosts up':>9} "
          f"{'RSS MB':>8} {'empty RSS MB':>13} {'SSH connect ms':>15}")
    for n in sizes:
        with tempfile.TemporaryDirectory() as folder:
            state = Path(folder) / "world.json"
            results = {}
            for mode in ("build", "measure"):
                out = subprocess.run([sys.executable, __file__, "--child", mode, str(state),
                                      str(n)], capture_output=True, text=True, check=True)
                results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
            b, m = results["build"], results["measure"]
            print(f"{n:>6} {b['create_s']:>12.1f} + {b['deliver_s']:<11.1f} "
                  f"{m['start_s']:>8.2f} {m['hosts_running']:>9} {m['rss_mb']:>8.0f} "
                  f"{m['rss_before_mb']:>13.0f} {m['ssh_connect_ms']:>15.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
