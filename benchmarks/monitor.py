"""The monitor at 10, 100 and 1,000 accounts against the sandbox, with 100 ms of latency
added to every DigitalOcean request, optionally a round trip in front of every droplet
(`--rtt-ms`), and IBeam's own kind of health server (`--health http10`, the default:
HTTP/1.0, one request per connection, so one new SSH channel per health request) or a
keep-alive one for comparison (`--health keepalive`).

For each N: (1) build a sandbox state with N droplets (the stock image, cloud-init's
first boot done), IBeam's secrets delivered to each over SSH as ibdesk delivers them, and
an ibdesk database holding the N accounts; (2) serve that state with `ibdesk sandbox
serve` in its own process; (3) in a third process, run `--cycles` forced monitor cycles
(every account looked at, the list always fetched), each started `--pause` seconds after
the last ended (in normal use an account is probed once a minute, longer than any
keep-alive that expires), and print: DigitalOcean requests per cycle, probes per cycle,
cycle wall time (median and p95 of the steady cycles; the first, which opens the SSH
connections, separately), **the monitor process's own CPU time per probe** (user +
system, steady cycles) with the simulator's beside it, the part of it spent in Python's
garbage collector, its peak RSS and growth per cycle, and the 429s it met.

Each N is measured per mode, side by side in one run against the same simulator:
`current` is ibdesk as it is; `baseline` is ibdesk's package exported from a git revision
(`--baseline REV`, default the end of the stop before this benchmark's last change), so
a figure is always compared with one measured on the same machine minutes apart.

    .venv/bin/python benchmarks/monitor.py            # 10, 100, 1000
    .venv/bin/python benchmarks/monitor.py --pause 0 10 100
    .venv/bin/python benchmarks/monitor.py --json --rtt-ms 40 1000   # a JSON line per N and mode

With `--json`, each line holds `n`, `mode`, `sweep_s_median`, `sweep_s_p95`,
`first_sweep_s`, `cpu_ms_per_probe` (the monitor's), `sim_cpu_ms_per_probe` (the
simulator's own, beside it), `gc_ms_per_probe`, `rss_mb` (the peak), `rss_growth_mb_per_cycle`
and `rss_mb_after_each_cycle` (the first cycle opens the SSH connections),
`do_requests_per_cycle`, `probes_per_cycle`, `new_connections_per_cycle` (SSH
connections opened plus SSH channels, each a new TCP connection on the droplet), `rtt_ms`
`health` and `simulator`. `--simulators current,REV` runs every mode against each
simulator in turn (REV's `sandbox serve`, exported as the baseline is), to compare
simulators in one run. `--profile PATH` writes a cProfile of each mode's steady cycles.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncssh

CYCLES = 12
PAUSE = 6.0
ROOT = Path(__file__).resolve().parent.parent


def _keyring_env(folder: Path) -> None:
    os.environ["PYTHON_KEYRING_BACKEND"] = "ibdesk.sandbox.keyring.EnvFileKeyring"
    os.environ["IBDESK_TEST_KEYRING_FILE"] = str(folder / "keyring.json")


async def build(folder: Path, n: int) -> None:
    from ibdesk.cloud import DigitalOceanClient, DropletCreate
    from ibdesk.cloud.userdata import render_cloud_init
    from ibdesk.domain import ibeam as ib
    from ibdesk.domain.models import Account, ServerStatus, new_account_id
    from ibdesk.domain.naming import account_tag, droplet_name
    from ibdesk.sandbox import Sandbox, SandboxOptions
    from ibdesk.secrets import SecretStore
    from ibdesk.services.keys import AppKey
    from ibdesk.store import Repository

    ibeam_user = (ib.CONTAINER_UID, ib.CONTAINER_GID)
    secrets = SecretStore("ibdesk")
    app_key = AppKey(secrets)
    options = SandboxOptions(state=folder / "world.json", boot_seconds=0,
                             first_boot_seconds=0, droplet_limit=n + 10,
                             rate_limit_per_minute=100_000, rate_limit_per_hour=100_000)
    repo = Repository.open(f"sqlite:///{folder / 'home' / 'ibdesk.sqlite3'}")
    async with Sandbox(options) as sandbox:
        async with DigitalOceanClient(sandbox.token, base_url=sandbox.api_url) as do:
            key_id = await app_key.ensure_registered(do)
            accounts = []
            for i in range(n):
                account = Account(id=new_account_id("paper"), username=f"trader{i}",
                                  environment="paper")
                droplet, _ = await do.create_droplet(DropletCreate(
                    name=droplet_name(account.username, "paper", 1), region="nyc1",
                    size="s-1vcpu-1gb", image="ubuntu-24-04-x64", ssh_keys=[key_id],
                    tags=["ibdesk", account_tag(account.id)], user_data=render_cloud_init()))
                accounts.append((account, droplet.id))
        await sandbox.sync_hosts()
        private = asyncssh.import_private_key(app_key.private_key())
        gate = asyncio.Semaphore(50)

        async def deliver(droplet_id: int) -> tuple[str, str]:
            host = sandbox.host(droplet_id)
            async with gate, asyncssh.connect("127.0.0.1", host.ssh_port, username="root",
                                              client_keys=[private],
                                              known_hosts=None) as conn:
                async with conn.start_sftp_client() as sftp:
                    for path, data, mode, owner in (
                            (ib.ACCOUNT_FILE, "sandboxdemo", ib.SECRET_FILE_MODE, ibeam_user),
                            (ib.PASSWORD_FILE, "sandbox-demo-pass", ib.SECRET_FILE_MODE,
                             ibeam_user),
                            (ib.ENV_FILE, ib.render_env_list(ib.IBeamSettings(
                                environment="paper")), ib.ENV_FILE_MODE, (0, 0))):
                        async with sftp.open(path, "w", asyncssh.SFTPAttrs(
                                permissions=mode)) as fh:
                            await fh.write(data)
                        await sftp.chown(path, *owner)
                assert (await conn.run(ib.START_COMMAND)).exit_status == 0
                seen = conn.get_server_host_key()
                assert seen is not None
                return host.droplet.ipv4, seen.export_public_key().decode().strip()

        ips = await asyncio.gather(*(deliver(d) for _, d in accounts))
        for (account, droplet_id), (ip, host_key) in zip(accounts, ips, strict=True):
            repo.add_account(account.model_copy(update={
                "do_droplet_id": droplet_id, "do_droplet_name": droplet_name(
                    account.username, "paper", 1), "do_ip_address": ip, "do_region": "nyc1",
                "do_server_status": ServerStatus.RUNNING,
                "ibeam_started": True, "ssh_host_key": host_key,
                "ssh_host_key_droplet_id": droplet_id}))
    repo.close()


MODES = ("baseline", "current")
BASELINE = "0b3bd71"
"""The monitor as it was at the end of the last stop that landed (its heap neither trimmed
after cycles nor spared httpx's command-line client). `--baseline 12da2c2` is the monitor
as issue 18 found it."""


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _as_a_monitor_process(monitor: object) -> None:
    """The heap's settings, as the window's monitor worker and `ibdesk watch` have them
    (what the code being measured has of them)."""
    try:
        from ibdesk.services.watch.heap import QuietHeap
    except ImportError:  # a revision from before it
        pass
    else:
        QuietHeap().watch(monitor)  # type: ignore[arg-type]
    try:
        from ibdesk.services.watch.heap import limit_malloc_arenas
    except ImportError:  # a revision from before it
        pass
    else:
        limit_malloc_arenas()


async def measure(folder: Path, info: dict[str, str], mode: str,
                  profiler: cProfile.Profile | None = None) -> dict[str, object]:
    import ibdesk
    from ibdesk.secrets import DO_TOKEN
    from ibdesk.services import open_runtime
    from ibdesk.services.watch.monitor import Monitor

    if mode == "baseline":  # the child runs on the exported revision's code
        assert "baseline" in str(Path(ibdesk.__file__).parent.parent), ibdesk.__file__
    rt = open_runtime(folder / "home", do_api_url=info["api_url"],
                      sandbox_ssh_map_url=info["ssh_map_url"],
                      public_ip_url=info["public_ip_url"])
    rt.secrets.set(DO_TOKEN, info["token"])
    opened = _count_connections()
    monitor = Monitor(rt)
    _as_a_monitor_process(monitor)
    runs = []
    cpu_steady = 0.0
    connections = []
    sim_cpu = 0.0
    import psutil

    rss: list[float] = []
    collecting = _gc_clock()
    try:
        for index in range(CYCLES):
            if index:
                await asyncio.sleep(PAUSE)
            before = _cpu()
            sim_before = _sim_cpu(info)
            count = sum(opened.values())
            if index == 1:
                collecting.clear()  # steady cycles only
            if index and profiler is not None:
                profiler.enable()  # steady cycles only: the first opens the connections
            stats, _ = await monitor.cycle(force=True)
            if profiler is not None:
                profiler.disable()
            if index:
                cpu_steady += _cpu() - before
                sim_cpu += _sim_cpu(info) - sim_before
                connections.append(sum(opened.values()) - count)
            runs.append(stats)
            rss.append(psutil.Process().memory_info().rss / 2**20)
    finally:
        await monitor.close()
        rt.close()
    steady = sorted(s.seconds for s in runs[1:])
    probes = sum(s.probes for s in runs[1:]) or 1
    return {
        "cpu_ms_per_probe": cpu_steady * 1000 / probes,
        "sim_cpu_ms_per_probe": sim_cpu * 1000 / probes,
        "new_connections_per_cycle": statistics.mean(connections) if connections else 0,
        "do_requests": statistics.mean(s.do_requests for s in runs),
        "probes": statistics.mean(s.probes for s in runs),
        "first_s": runs[0].seconds,
        "median_s": statistics.median(steady),
        "p95_s": steady[max(0, round(0.95 * len(steady)) - 1)],
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        # after the first cycle (which opens the connections) to the last
        "rss_growth_mb": (rss[-1] - rss[1]) / max(1, len(rss) - 2) if len(rss) > 2 else 0.0,
        "rss_by_cycle": [round(r) for r in rss],
        "rate_limited": sum(s.rate_limited for s in runs),
        "gc_ms_per_probe": sum(collecting.values()) * 1000 / probes,
        "gc_by_generation": {g: round(t, 3) for g, t in sorted(collecting.items())},
    }


def _gc_clock() -> dict[int, float]:
    """Seconds spent in Python's garbage collector from now on, by generation: with a
    thousand SSH connections alive, a full collection walks every object they hold."""
    import gc
    import time

    spent: dict[int, float] = {}
    started = [0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.process_time()
        else:
            generation = info["generation"]
            spent[generation] = spent.get(generation, 0.0) + time.process_time() - started[0]

    gc.callbacks.append(callback)
    return spent


def _count_connections() -> dict[str, int]:
    """Counts, from now on, the SSH connections this process opens and the channels it
    opens on them."""
    counts = {"ssh": 0, "channels": 0}
    real_connect = asyncssh.connect
    real_channel = asyncssh.SSHClientConnection.create_connection

    def connect(*args, **kwargs):  # type: ignore[no-untyped-def]
        counts["ssh"] += 1
        return real_connect(*args, **kwargs)

    async def create_connection(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        counts["channels"] += 1  # direct channels and a local forward's alike
        return await real_channel(self, *args, **kwargs)

    asyncssh.connect = connect  # type: ignore[assignment]
    asyncssh.SSHClientConnection.create_connection = create_connection  # type: ignore[method-assign]
    return counts  # ibdesk.gateway.ssh calls asyncssh.connect through the module: counted


def _sim_cpu(info: dict[str, str]) -> float:
    """The simulator process's CPU time so far (user + system)."""
    import psutil

    times = psutil.Process(int(info["pid"])).cpu_times()
    return float(times.user + times.system)


def child(mode: str, folder: Path, arg: str, profile: str) -> None:
    _keyring_env(folder)
    if mode == "build":
        (folder / "home").mkdir(exist_ok=True)
        asyncio.run(build(folder, int(arg)))
        print("{}")
        return
    if not profile:
        print(json.dumps(asyncio.run(measure(folder, json.loads(arg), mode))))
        return
    import pstats

    prof = cProfile.Profile()
    result = asyncio.run(measure(folder, json.loads(arg), mode, prof))
    prof.dump_stats(profile)
    stats = pstats.Stats(profile, stream=sys.stderr)
    stats.sort_stats("tottime").print_stats(40)
    print(json.dumps(result))


@contextlib.contextmanager
def served(folder: Path, rtt_ms: float, health: str,
           code: Path | None = None) -> Iterator[dict[str, str]]:
    """`ibdesk sandbox serve` on the world saved in `folder`, with 100 ms of latency on
    every DigitalOcean request, `rtt_ms` in front of every droplet and the chosen health
    server, run from the package exported into `code` (the current one when None);
    yields its first --json line (URLs and token)."""
    log = (folder / "serve.log").open("w")
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(code), *filter(None, [env.get("PYTHONPATH")])])
    serve = subprocess.Popen(
        [sys.executable, "-m", "ibdesk", "sandbox", "serve", "--json", "--state",
         str(folder / "world.json"), "--latency-ms", "100", "--droplet-rtt-ms", str(rtt_ms),
         "--health", health],
        stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    try:
        assert serve.stdout is not None
        first = serve.stdout.readline()
        info = json.loads(first) if first.strip() else {}
        if "api_url" not in info:
            serve.wait(timeout=60)
            sys.exit(f"`sandbox serve` did not start: {first.strip()}\n"
                     f"{(folder / 'serve.log').read_text()[-3000:]}")
        yield {**info, "pid": str(serve.pid)}
    finally:
        serve.terminate()
        serve.wait(timeout=60)
        log.close()


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[10, 100, 1000], metavar="N")
    parser.add_argument("--json", action="store_true", help="a JSON object per N and mode")
    parser.add_argument("--pause", type=float, default=PAUSE, help="seconds between cycles")
    parser.add_argument("--cycles", type=int, default=CYCLES)
    parser.add_argument("--rtt-ms", type=float, default=0.0,
                        help="round trip added in front of every droplet")
    parser.add_argument("--health", choices=["http10", "keepalive"], default="http10")
    parser.add_argument("--modes", default=",".join(MODES),
                        help=f"comma-separated, of {', '.join(MODES)}")
    parser.add_argument("--baseline", default=BASELINE, metavar="REV",
                        help=f"the git revision `baseline` runs (default {BASELINE})")
    parser.add_argument("--simulators", default="current", metavar="current,REV",
                        help="the simulators each mode runs against, in turn: `current` or "
                        "a git revision's `sandbox serve` (to compare simulators in one run)")
    parser.add_argument("--profile", default="",
                        help="cProfile each measured child's steady cycles into PATH.MODE.N "
                        "(top on stderr)")
    args = parser.parse_args(argv)
    args.modes = [m for m in args.modes.split(",") if m]
    args.simulators = [s for s in args.simulators.split(",") if s]
    if unknown := set(args.modes) - set(MODES):
        parser.error(f"unknown modes: {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str]) -> int:
    global PAUSE, CYCLES
    if argv and argv[0] == "--child":
        PAUSE, CYCLES = float(argv[4]), int(argv[5])
        child(argv[1], Path(argv[2]), argv[3], argv[6])
        return 0
    args = _arguments(argv)
    PAUSE, CYCLES = args.pause, args.cycles
    health_says = ("HTTP/1.0, one request per connection (IBeam's own)" if args.health ==
                   "http10" else "HTTP/1.1 kept alive (not IBeam's)")
    if not args.json:
        print(f"health server: {health_says}; {args.rtt_ms:g} ms in front of every droplet; "
              f"{CYCLES} cycles, {PAUSE:g} s apart")
        print(f"{'N':>6} {'mode':>9} {'DO req/cycle':>13} {'probes/cycle':>13} "
              f"{'first s':>8} {'median s':>9} {'p95 s':>7} {'CPU ms/probe':>13} "
              f"{'sim ms/probe':>13} {'new conn/cycle':>15} {'peak RSS MB':>12} {'429s':>5}",
              flush=True)
    with tempfile.TemporaryDirectory() as code:
        if "baseline" in args.modes:
            _export(args.baseline, Path(code) / "baseline")
        for simulator in set(args.simulators) - {"current"}:
            _export(simulator, Path(code) / f"simulator-{simulator}")
        for n in args.sizes:
            _measure_size(args, n, Path(code))
    return 0


def _export(revision: str, into: Path) -> None:
    """ibdesk's package as it was at `revision`, into `into`/ibdesk."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "ibdesk"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)


def _measure_size(args: argparse.Namespace, n: int, code: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        subprocess.run([sys.executable, __file__, "--child", "build", str(folder), str(n),
                        str(PAUSE), str(CYCLES), ""], check=True,
                       stdout=subprocess.DEVNULL)
        for simulator, mode in ((s, m) for s in args.simulators for m in args.modes):
            profile = f"{args.profile}.{mode}.{simulator}.{n}" if args.profile else ""
            env = dict(os.environ)
            if mode == "baseline":
                env["PYTHONPATH"] = os.pathsep.join(
                    [str(code / "baseline"), *filter(None, [env.get("PYTHONPATH")])])
            simulator_code = None if simulator == "current" else code / f"simulator-{simulator}"
            with served(folder, args.rtt_ms, args.health, simulator_code) as info:
                done = subprocess.run([sys.executable, __file__, "--child", mode,
                                       str(folder), json.dumps(info), str(PAUSE),
                                       str(CYCLES), profile],
                                      check=False, capture_output=True, text=True,
                                      env=env)
                if done.returncode:
                    sys.exit(f"the {mode} run failed:\n{done.stderr[-3000:]}")
                if profile:
                    print(done.stderr, file=sys.stderr)
                out = done.stdout
            r = json.loads(out.strip().splitlines()[-1])
            if args.json:
                print(json.dumps({
                    "n": n, "mode": mode, "sweep_s_median": round(r["median_s"], 3),
                    "sweep_s_p95": round(r["p95_s"], 3),
                    "first_sweep_s": round(r["first_s"], 3),
                    "cpu_ms_per_probe": round(r["cpu_ms_per_probe"], 3),
                    "sim_cpu_ms_per_probe": round(r["sim_cpu_ms_per_probe"], 3),
                    "rss_mb": round(r["rss_mb"]),
                    "rss_growth_mb_per_cycle": round(r["rss_growth_mb"], 2),
                    "rss_mb_after_each_cycle": r.get("rss_by_cycle", []),
                    "do_requests_per_cycle": r["do_requests"],
                    "probes_per_cycle": r["probes"],
                    "new_connections_per_cycle": r["new_connections_per_cycle"],
                    "rate_limited": r["rate_limited"], "rtt_ms": args.rtt_ms,
                    "gc_ms_per_probe": round(r["gc_ms_per_probe"], 3),
                    "gc_s_by_generation": r["gc_by_generation"],
                    "health": args.health, "simulator": simulator, "cycles": CYCLES,
                    "pause_s": PAUSE}),
                      flush=True)
                continue
            label = mode if args.simulators == ["current"] else f"{mode}/sim {simulator}"
            print(f"{n:>6} {label:>9} {r['do_requests']:>13.1f} {r['probes']:>13.1f} "
                  f"{r['first_s']:>8.2f} {r['median_s']:>9.2f} {r['p95_s']:>7.2f} "
                  f"{r['cpu_ms_per_probe']:>13.2f} {r['sim_cpu_ms_per_probe']:>13.2f} "
                  f"{r['new_connections_per_cycle']:>15.1f} {r['rss_mb']:>12.0f} "
                  f"{r['rate_limited']:>5}", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
