"""Start ibdesk when the person logs in (optional, off until chosen in Settings).

Each platform's own mechanism, the one its users and admins know how to inspect:

* Linux and other XDG desktops: `$XDG_CONFIG_HOME/autostart/ibdesk.desktop` (the
  freedesktop.org Desktop Application Autostart Specification).
* macOS: a per-user LaunchAgent, `~/Library/LaunchAgents/app.ibdesk.plist`, RunAtLoad.
* Windows: the per-user `Run` key, HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run,
  value `ibdesk`.

The command is the installed `ibdesk` launcher when there is one on PATH (what the .deb
puts there), else how this ibdesk starts itself (the app bundle's own
executable on macOS and Windows, where nothing is put on PATH; `python -m ibdesk` from a
checkout).
No secret is ever part of it.
"""

from __future__ import annotations

import importlib
import os
import plistlib
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

from ibdesk.self_command import self_command

LABEL = "app.ibdesk"
DESKTOP_FILE = "ibdesk.desktop"
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"


def command() -> list[str]:
    """What the login starts: the window (closing it later hides it to the tray)."""
    launcher = shutil.which("ibdesk")
    return [launcher] if launcher else self_command()


def _platform(platform: str | None) -> str:
    return platform or sys.platform


def _xdg_file(home: Path | None) -> Path:
    config = os.environ.get("XDG_CONFIG_HOME")
    base = Path(config) if config else (home or Path.home()) / ".config"
    return base / "autostart" / DESKTOP_FILE


def _agent_file(home: Path | None) -> Path:
    return (home or Path.home()) / "Library" / "LaunchAgents" / f"{LABEL}.plist"


def where(platform: str | None = None, home: Path | None = None) -> str:
    """Where the setting lives, for the Settings dialog to say."""
    system = _platform(platform)
    if system == "win32":
        return f"HKEY_CURRENT_USER\\{RUN_KEY} (ibdesk)"
    return str(_agent_file(home) if system == "darwin" else _xdg_file(home))


def _winreg() -> Any:
    """Windows' registry module (typed as Any: mypy checks this file as Linux code)."""
    return importlib.import_module("winreg")


def is_enabled(platform: str | None = None, home: Path | None = None) -> bool:
    system = _platform(platform)
    if system == "win32":
        winreg = _winreg()

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
                winreg.QueryValueEx(key, "ibdesk")
            return True
        except OSError:
            return False
    path = _agent_file(home) if system == "darwin" else _xdg_file(home)
    return path.is_file()


def enable(platform: str | None = None, home: Path | None = None,
           argv: list[str] | None = None) -> None:
    system = _platform(platform)
    args = argv or command()
    if system == "win32":
        import subprocess
        winreg = _winreg()

        with winreg.CreateKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
            winreg.SetValueEx(key, "ibdesk", 0, winreg.REG_SZ, subprocess.list2cmdline(args))
        return
    if system == "darwin":
        path = _agent_file(home)
        data = plistlib.dumps({"Label": LABEL, "ProgramArguments": args, "RunAtLoad": True,
                               "ProcessType": "Interactive"})
    else:
        path = _xdg_file(home)
        data = ("[Desktop Entry]\nType=Application\nName=ibdesk\n"
                "Comment=Your IBKR gateways, watched from the tray\n"
                f"Exec={' '.join(shlex.quote(a) for a in args)}\nIcon=app.ibdesk.ibdesk\n"
                "Terminal=false\nX-GNOME-Autostart-enabled=true\n").encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + ".new")
    temp.write_bytes(data)
    os.replace(temp, path)


def disable(platform: str | None = None, home: Path | None = None) -> None:
    system = _platform(platform)
    if system == "win32":
        winreg = _winreg()

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY, 0,
                                winreg.KEY_SET_VALUE) as key:
                winreg.DeleteValue(key, "ibdesk")
        except OSError:
            pass
        return
    path = _agent_file(home) if system == "darwin" else _xdg_file(home)
    path.unlink(missing_ok=True)


__all__ = ["command", "disable", "enable", "is_enabled", "where"]
