"""Files only this user can read (issue 13, point 10): the data folder 0700, what is in it
0600, whatever an earlier version left behind tightened, a bundle 0600 wherever it goes."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from ibdesk.config import load_settings, save_settings
from ibdesk.private_files import tighten
from tests.helpers import PYTHON

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX modes (Windows: ACLs)")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_real_ibdesk_process_leaves_nothing_others_can_read(tmp_path: Path) -> None:
    home = tmp_path / "data"
    (home / "logs").mkdir(parents=True)
    home.chmod(0o755)
    (home / "logs").chmod(0o755)
    old = {home / "settings.toml": "http_timeout = 30\n",
           home / "logs" / "ibdesk.log.1": "an old log\n",
           home / "window-snapshot.json": "{}"}
    for path, text in old.items():  # as an earlier ibdesk left them
        path.write_text(text)
        path.chmod(0o644)
    env = {k: v for k, v in os.environ.items() if not k.startswith("IBDESK_")}
    result = subprocess.run(  # umask 022, as a desktop session has it
        [*PYTHON, "-c", "import os, sys; os.umask(0o022); from ibdesk.cli import main;"
         " sys.exit(main(['--home', sys.argv[1], 'info']))", str(home)],
        capture_output=True, text=True, env=env, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert _mode(home) == 0o700 and _mode(home / "logs") == 0o700
    made = [p for p in home.rglob("*") if p.is_file()]
    assert home / "ibdesk.sqlite3" in made and home / "logs" / "ibdesk.log" in made
    assert {p.name: oct(_mode(p)) for p in made} == {p.name: "0o600" for p in made}


def test_settings_written_by_the_window_are_private(tmp_path: Path) -> None:
    os.umask(0o022)
    settings = load_settings(tmp_path / "h")
    tighten(settings.home)
    save_settings(settings, {"region": "ams3"})
    assert _mode(settings.home / "settings.toml") == 0o600
    assert _mode(settings.home) == 0o700


def test_tighten_leaves_symbolic_links_and_deeper_folders_alone(tmp_path: Path) -> None:
    home, outside = tmp_path / "h", tmp_path / "outside.txt"
    (home / "sandbox" / "deeper").mkdir(parents=True)
    (home / "sandbox" / "deeper" / "f").write_text("x")
    (home / "sandbox" / "deeper" / "f").chmod(0o644)
    outside.write_text("not ibdesk's")
    outside.chmod(0o644)
    (home / "link").symlink_to(outside)
    tighten(home)
    assert _mode(outside) == 0o644
    assert _mode(home / "sandbox") == 0o700
    assert _mode(home / "sandbox" / "deeper" / "f") == 0o644
