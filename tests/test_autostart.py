"""Start at login: the platform's own file, written and removed (Windows' registry cannot
be tried on this Linux machine; its code path is the documented winreg calls)."""

from __future__ import annotations

import plistlib
import shlex
from pathlib import Path

import pytest

from ibdesk import autostart


def test_linux_writes_an_xdg_autostart_entry(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert not autostart.is_enabled("linux")
    autostart.enable("linux", argv=["/opt/ibdesk/bin/ibdesk app", "--x"])
    entry = tmp_path / "config" / "autostart" / "ibdesk.desktop"
    assert autostart.is_enabled("linux") and autostart.where("linux") == str(entry)
    text = entry.read_text()
    assert "[Desktop Entry]" in text and "Type=Application" in text
    exec_line = next(line for line in text.splitlines() if line.startswith("Exec="))
    assert shlex.split(exec_line[5:]) == ["/opt/ibdesk/bin/ibdesk app", "--x"]
    autostart.disable("linux")
    assert not entry.exists() and not autostart.is_enabled("linux")
    autostart.disable("linux")  # twice: nothing to do, no error


def test_macos_writes_a_launch_agent(tmp_path: Path) -> None:
    autostart.enable("darwin", home=tmp_path, argv=["/Applications/ibdesk.app/x"])
    agent = tmp_path / "Library" / "LaunchAgents" / "app.ibdesk.plist"
    data = plistlib.loads(agent.read_bytes())
    assert data["RunAtLoad"] is True and data["ProgramArguments"] == ["/Applications/ibdesk.app/x"]
    assert autostart.is_enabled("darwin", home=tmp_path)
    autostart.disable("darwin", home=tmp_path)
    assert not autostart.is_enabled("darwin", home=tmp_path)


def test_the_command_is_the_launcher_or_this_python() -> None:
    argv = autostart.command()
    assert argv[0].endswith("ibdesk") or argv[1:] == ["-m", "ibdesk"]
