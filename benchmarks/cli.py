"""How long the command line takes to answer, against a bare Python in the same run.

Traders' scripts call `ibdesk accounts --json` and `ibdesk status ID --json` in loops, so
a start that imports everything costs them on every call. Each figure is the median of
`--runs` fresh processes (default 15), printed beside `python -c pass` and the floors a
command could reach (argparse alone; 1,000 accounts read with sqlite3 + json), and as a
multiple of the bare start. The store holds 1,000 accounts.

    .venv/bin/python benchmarks/cli.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from startup import seed  # benchmarks/startup.py: n accounts in a store under home

FLOOR_SQLITE = """
import json, sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute("SELECT * FROM accounts").fetchall()
print(json.dumps([list(map(str, r)) for r in rows])[:10])
"""


def median_seconds(argv: list[str], runs: int, env: dict[str, str]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, check=False)
        times.append(time.perf_counter() - start)
        if done.returncode not in (0, 2):  # 2: the usage error measured on purpose
            raise SystemExit(f"{argv} failed: {done.stderr.decode()[-500:]}")
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    python = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        seed(home, 1000)
        database = home / "ibdesk.sqlite3"
        env = dict(os.environ, IBDESK_HOME=str(home), PYTHON_KEYRING_BACKEND=
                   "keyring.backends.null.Keyring")
        cases = [
            ("python -c pass", [python, "-c", "pass"]),
            ("floor: argparse --help", [python, "-c", "import argparse; "
                                        "argparse.ArgumentParser().parse_args(['--help'])"]),
            ("floor: sqlite3 + json, 1,000 rows", [python, "-c", FLOOR_SQLITE, str(database)]),
            ("ibdesk --version", [python, "-m", "ibdesk", "--version"]),
            ("ibdesk --help", [python, "-m", "ibdesk", "--help"]),
            ("ibdesk a-usage-error", [python, "-m", "ibdesk", "no-such-command"]),
            ("ibdesk accounts (1,000)", [python, "-m", "ibdesk", "accounts"]),
            ("ibdesk --json accounts (1,000)", [python, "-m", "ibdesk", "--json", "accounts"]),
        ]
        bare = None
        print(f"{'command':<36} {'median s':>9} {'× bare':>7}   ({runs} runs each)")
        for name, argv in cases:
            seconds = median_seconds(argv, runs, env)
            bare = bare or seconds
            print(f"{name:<36} {seconds:>9.3f} {seconds / bare:>7.1f}", flush=True)


if __name__ == "__main__":
    main()
