"""The command line imports what a command uses and nothing more (issue 16): scripts call
`ibdesk accounts --json` in loops, and `--version` used to take 1.07 s because the entry
point imported nearly everything. The timings are benchmarks/cli.py's; this checks the
cause, which does not depend on how fast the machine is."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.helpers import PYTHON

PROBE = """
import contextlib, json, sys
from ibdesk.cli import main
with contextlib.suppress(SystemExit):
    main(sys.argv[1:])
heavy = ("sqlalchemy", "alembic", "pydantic", "pydantic_settings", "keyring", "asyncssh",
         "httpx", "aiohttp", "PySide6", "asyncio", "ibdesk.services", "ibdesk.store",
         "ibdesk.store.repository", "ibdesk.domain.models", "ibdesk.gateway", "ibdesk.cloud")
print(json.dumps(sorted(m for m in heavy if m in sys.modules)), file=sys.stderr)
"""


def _loaded(home: object, *argv: str) -> list[str]:
    done = subprocess.run([*PYTHON, "-c", PROBE, *argv], capture_output=True, text=True,
                          timeout=120, env=None)
    return json.loads(done.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["no-such-command"],
                                  ["connect", "--help"]])
def test_parsing_loads_nothing_heavy(home: object, argv: list[str]) -> None:
    assert _loaded(home, *argv) == []


def test_accounts_loads_no_ssh_http_or_qt(home: object) -> None:
    first = _loaded(home, "--json", "accounts")  # no store yet: the repository makes it
    assert "ibdesk.store.repository" in first
    assert not {"asyncssh", "httpx", "aiohttp", "PySide6", "ibdesk.gateway",
                "ibdesk.cloud"} & set(first)
    # from then on, sqlite3 alone: no SQLAlchemy, Alembic, keyring, pydantic's models or
    # services; the settings are still loaded and checked (pydantic-settings loads asyncio)
    again = set(_loaded(home, "--json", "accounts"))
    assert "pydantic_settings" in again and "ibdesk.store" in again
    assert not {"sqlalchemy", "alembic", "keyring", "ibdesk.domain.models",
                "ibdesk.services", "ibdesk.store.repository"} & again


def test_a_monitor_loads_prometheus_only_when_it_serves_metrics() -> None:
    """prometheus-client is 10 MB of a thousand-account monitor's memory (issue 18)."""
    probe = ("import sys, ibdesk.cli.monitor_worker, ibdesk.cli.watch; "
             "print(sorted(m for m in ('prometheus_client', 'apprise') if m in sys.modules))")
    done = subprocess.run([*PYTHON, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "[]", done.stderr


def test_a_monitor_does_not_load_the_command_line_client_of_httpx() -> None:
    """httpx imports its own CLI (click, pygments, rich) when it can: 5.7 MB of a monitor
    where those are installed, as here, and 1.3 MB in the app, which has click through
    apprise (issue 18's 200 MB at 1,000 accounts). ibdesk's package turns that import
    off; httpx itself still works."""
    probe = ("import sys, ibdesk.cli.monitor_worker, ibdesk.cli.watch, ibdesk.cloud, httpx; "
             "assert httpx.Client and callable(httpx.main); "
             "print(sorted(m for m in ('click', 'rich', 'pygments') if m in sys.modules))")
    done = subprocess.run([*PYTHON, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "[]", done.stderr
