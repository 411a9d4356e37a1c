"""How long the support tools take, on the sandbox (in this process, loopback, no added
latency): `doctor` for one account (all 14 checks), a support bundle (size too), and the
log filter's cost per line with 1,000 secrets known.

    .venv/bin/python benchmarks/support_tools.py
"""

from __future__ import annotations

import asyncio
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

RUNS = 7


async def measure(home: Path) -> dict[str, object]:
    from ibdesk.domain.enums import Environment
    from ibdesk.sandbox import IBKRUser, Sandbox, SandboxOptions
    from ibdesk.secrets import DO_TOKEN, MemoryKeyring, SecretStore
    from ibdesk.services import open_runtime
    from ibdesk.services.connect.provisioner import ConnectRequest, Provisioner
    from ibdesk.services.support.bundle import BundleBuilder
    from ibdesk.services.support.doctor import Doctor

    options = SandboxOptions(boot_seconds=0.2, action_seconds=0.2, login_seconds=0.2,
                             users=[IBKRUser("bench", "bench pass")])
    async with Sandbox(options) as sandbox:
        rt = open_runtime(home, do_api_url=sandbox.api_url,
                          sandbox_ssh_map_url=sandbox.ssh_map_url,
                          public_ip_url=sandbox.public_ip_url)
        rt.secrets = SecretStore("ibdesk-bench", backend=MemoryKeyring())
        rt.secrets.set(DO_TOKEN, sandbox.token)
        account = await Provisioner(rt).connect(ConnectRequest(
            username="bench", password="bench pass", environment=Environment.PAPER))
        doctor_times, bundle_times = [], []
        checks = 0
        for _ in range(RUNS):
            started = time.perf_counter()
            checks = len([r async for r in Doctor(rt).run(account.id)])
            doctor_times.append(time.perf_counter() - started)
        size = 0
        for i in range(RUNS):
            started = time.perf_counter()
            report = await BundleBuilder(rt).build(account.id, home / f"b{i}.zip")
            bundle_times.append(time.perf_counter() - started)
            size = report.path.stat().st_size
        rt.close()
    return {"doctor_checks": checks,
            "doctor_median_s": round(statistics.median(doctor_times), 3),
            "bundle_median_s": round(statistics.median(bundle_times), 3),
            "bundle_bytes": size}


def filter_cost() -> dict[str, object]:
    import secrets as random_secrets

    from ibdesk.applog import RedactingFormatter
    from ibdesk.secrets import remember

    for _ in range(1000):
        remember(random_secrets.token_urlsafe(16))
    formatter = RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    record = logging.LogRecord("ibdesk.services.watch.monitor", logging.INFO, __file__, 1,
                               "checked %s: %s", ("ib-paper-1a2b3c4d", "running, 41 ms"), None)
    n = 5000
    started = time.perf_counter()
    for _ in range(n):
        formatter.format(record)
    per_line = (time.perf_counter() - started) / n
    return {"log_filter_us_per_line_1000_secrets": round(per_line * 1e6, 1)}


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(measure(Path(tmp)))
    result.update(filter_cost())
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
