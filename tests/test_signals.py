"""The packaged app's start-up: Briefcase's stub installs no signal handlers, so SIGPIPE
killed the process at a write to a closed socket (issue 15)."""

from __future__ import annotations

import signal
import subprocess

import pytest

from tests.helpers import PYTHON

SCRIPT = """
import signal, socket, sys
signal.signal(signal.SIGPIPE, signal.SIG_DFL)   # as an embedded Python starts
if sys.argv[1] == "fixed":
    from ibdesk.cli.app import ignore_fatal_signals
    ignore_fatal_signals()
a, b = socket.socketpair()
b.close()
try:
    for _ in range(100):
        a.send(b"x" * 65536)
except BrokenPipeError:
    print("broken pipe raised")
"""


@pytest.mark.skipif(not hasattr(signal, "SIGPIPE"), reason="POSIX signals")
def test_a_closed_peer_is_an_exception_not_a_killed_process() -> None:
    died = subprocess.run([*PYTHON, "-c", SCRIPT, "as-embedded"],
                          capture_output=True, text=True, timeout=60)
    assert died.returncode == -signal.SIGPIPE  # the packaged app's death, reproduced
    lived = subprocess.run([*PYTHON, "-c", SCRIPT, "fixed"],
                           capture_output=True, text=True, timeout=60)
    assert lived.returncode == 0 and "broken pipe raised" in lived.stdout


@pytest.mark.skipif(not hasattr(signal, "SIGPIPE"), reason="POSIX signals")
def test_every_entry_point_ignores_them_first() -> None:
    script = ("import signal, contextlib\n"
              "signal.signal(signal.SIGPIPE, signal.SIG_DFL)\n"
              "from ibdesk.cli import main\n"
              "with contextlib.suppress(SystemExit):\n"
              "    main(['--version'])\n"
              "print(signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN)\n")
    done = subprocess.run([*PYTHON, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.strip().endswith("True"), done.stderr
