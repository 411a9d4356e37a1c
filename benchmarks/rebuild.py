"""How long a rebuild schedule's morning takes: destroy the server, create it again, deliver
the login, wait for the gateway — on the sandbox with its default timings (a 5 s boot, a
3 s first boot for Docker and IBeam, a 3 s IBKR login), beside the first connect of the
same account in the same run (the baseline).

    .venv/bin/python benchmarks/rebuild.py [RUNS]

A real droplet takes far longer: DigitalOcean makes it active in about a minute, cloud-init
installs Docker and pulls IBeam in 2-4 minutes (DESIGN.md), and IBeam's login takes one
or two; the README states the estimate, this measures ibdesk's own part of it.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


async def measure(home: Path, runs: int) -> dict[str, object]:
    from ibdesk.domain.enums import Environment, ServerStatus
    from ibdesk.domain.schedule import ScheduleMode
    from ibdesk.sandbox import IBKRUser, Sandbox, SandboxOptions
    from ibdesk.secrets import DO_TOKEN, MemoryKeyring, SecretStore
    from ibdesk.services import open_runtime
    from ibdesk.services.connect.provisioner import ConnectRequest, Provisioner
    from ibdesk.services.control.parking import Parking

    options = SandboxOptions(users=[IBKRUser("bench", "bench pass")])  # default timings
    async with Sandbox(options) as sandbox:
        rt = open_runtime(home, do_api_url=sandbox.api_url,
                          sandbox_ssh_map_url=sandbox.ssh_map_url,
                          public_ip_url=sandbox.public_ip_url)
        rt.secrets = SecretStore("ibdesk-bench", backend=MemoryKeyring())
        rt.secrets.set(DO_TOKEN, sandbox.token)
        started = time.perf_counter()
        account = await Provisioner(rt).connect(ConnectRequest(
            username="bench", password="bench pass", environment=Environment.PAPER))
        connect = time.perf_counter() - started
        downs, ups = [], []
        for _ in range(runs):
            started = time.perf_counter()
            await Parking(rt).park(account.id, ScheduleMode.REBUILD, "Benchmark: down.")
            downs.append(time.perf_counter() - started)
            started = time.perf_counter()
            back = await Parking(rt).unpark(account.id, "Benchmark: up.")
            ups.append(time.perf_counter() - started)
            assert back.do_server_status is ServerStatus.RUNNING, back.do_server_status
        rt.close()
    return {"runs": runs, "first_connect_s": round(connect, 2),
            "destroy_median_s": round(statistics.median(downs), 2),
            "rebuild_median_s": round(statistics.median(ups), 2),
            "rebuild_min_s": round(min(ups), 2), "rebuild_max_s": round(max(ups), 2)}


def main(argv: list[str]) -> int:
    runs = int(argv[0]) if argv else 3
    with tempfile.TemporaryDirectory() as folder:
        figures = asyncio.run(measure(Path(folder), runs))
    print(json.dumps(figures))
    print(f"first connect {figures['first_connect_s']} s (baseline) | rebuild median "
          f"{figures['rebuild_median_s']} s ({figures['rebuild_min_s']}-"
          f"{figures['rebuild_max_s']}) | destroy {figures['destroy_median_s']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
