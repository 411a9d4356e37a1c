"""The headless service: `ibdesk watch` kept running without the window, so that the
monitor, the alerts and the schedules go on while nobody is logged in to the window.

Each platform's own mechanism for a per-user background program:

* Linux: a systemd user unit, `$XDG_CONFIG_HOME/systemd/user/ibdesk-watch.service`,
  enabled for `default.target` and restarted when it fails (`systemctl --user`). It runs
  in the person's session, where the keyring is (the Secret Service is unlocked at login);
  `loginctl enable-linger` keeps it running after they log out.
* macOS: a LaunchAgent, `~/Library/LaunchAgents/app.ibdesk.watch.plist`, RunAtLoad and
  KeepAlive (`launchctl bootstrap gui/UID`).
* Windows: a Task Scheduler task, `ibdesk-watch`, at logon, as the person
  (`schtasks /Create /SC ONLOGON`), which reaches the Credential Manager as they do.

The command is `ibdesk watch` (with `--home` when the data folder is not the default);
no secret is ever part of it.
"""

from __future__ import annotations

import os
import plistlib
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ibdesk.autostart import command as launcher_command
from ibdesk.domain.errors import IbdeskError

UNIT = "ibdesk-watch.service"
AGENT_LABEL = "app.ibdesk.watch"
TASK = "ibdesk-watch"


class ServiceError(IbdeskError):
    """The service could not be installed, removed or asked about."""


@dataclass(frozen=True)
class ServiceState:
    installed: bool
    running: bool | None
    """None when the platform's service manager cannot be asked here."""
    where: str
    detail: str = ""


def watch_command(home: Path | None = None) -> list[str]:
    args = [*launcher_command(), "watch"]
    if home is not None:
        args += ["--home", str(home)]
    return args


def unit_path(config_home: Path | None = None) -> Path:
    base = config_home or Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "systemd" / "user" / UNIT


def agent_path(home: Path | None = None) -> Path:
    return (home or Path.home()) / "Library" / "LaunchAgents" / f"{AGENT_LABEL}.plist"


def render_unit(args: list[str]) -> str:
    """The systemd user unit (verified by `systemd-analyze verify` in the tests)."""
    exec_start = " ".join(shlex.quote(a) for a in args)
    return ("[Unit]\n"
            "Description=ibdesk: watch the IBKR gateways and run their schedules (no window)\n"
            "After=network-online.target\n"
            "Wants=network-online.target\n\n"
            "[Service]\n"
            "Type=simple\n"
            f"ExecStart={exec_start}\n"
            "Restart=on-failure\n"
            "RestartSec=30\n"
            # `ibdesk watch` stops on SIGTERM, finishing its alerts; a schedule's action
            # under way is an operation the next start carries on
            "TimeoutStopSec=30\n\n"
            "[Install]\n"
            "WantedBy=default.target\n")


def render_agent(args: list[str]) -> bytes:
    return plistlib.dumps({"Label": AGENT_LABEL, "ProgramArguments": args,
                           "RunAtLoad": True, "KeepAlive": {"SuccessfulExit": False},
                           "ProcessType": "Background"})


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(args, capture_output=True, text=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(args, 127, "", str(exc))


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + ".new")
    temp.write_bytes(data)
    os.replace(temp, path)


def install(home: Path | None = None, *, platform: str | None = None) -> ServiceState:
    system = platform or sys.platform
    args = watch_command(home)
    if system == "win32":
        line = subprocess.list2cmdline(args)
        done = _run(["schtasks", "/Create", "/F", "/TN", TASK, "/SC", "ONLOGON",
                     "/RL", "LIMITED", "/TR", line])
        if done.returncode != 0:
            raise ServiceError(f"Task Scheduler refused the task: {done.stderr.strip()}")
        _run(["schtasks", "/Run", "/TN", TASK])
        return status(platform=system)
    if system == "darwin":
        path = agent_path()
        _write(path, render_agent(args))
        _run(["launchctl", "bootout", f"gui/{os.getuid()}", str(path)])
        done = _run(["launchctl", "bootstrap", f"gui/{os.getuid()}", str(path)])
        if done.returncode != 0:
            raise ServiceError(f"launchd did not load {path}: {done.stderr.strip()}")
        return status(platform=system)
    path = unit_path()
    _write(path, render_unit(args).encode())
    if shutil.which("systemctl") is None:
        raise ServiceError(f"Wrote {path}, but this system has no systemctl to start it: "
                           f"run `{' '.join(args)}` from your session's start-up instead.")
    reload = _run(["systemctl", "--user", "daemon-reload"])
    if reload.returncode != 0:
        raise ServiceError(
            f"Wrote {path}, but systemd's user manager does not answer here "
            f"({reload.stderr.strip() or reload.returncode}). Log in to a desktop session "
            "(or `loginctl enable-linger` your user) and run `ibdesk service install` "
            "again.")
    done = _run(["systemctl", "--user", "enable", "--now", UNIT])
    if done.returncode != 0:
        raise ServiceError(f"systemd did not start {UNIT}: {done.stderr.strip()}")
    return status(platform=system)


def uninstall(*, platform: str | None = None) -> ServiceState:
    system = platform or sys.platform
    if system == "win32":
        _run(["schtasks", "/End", "/TN", TASK])
        _run(["schtasks", "/Delete", "/F", "/TN", TASK])
        return status(platform=system)
    if system == "darwin":
        path = agent_path()
        _run(["launchctl", "bootout", f"gui/{os.getuid()}", str(path)])
        path.unlink(missing_ok=True)
        return status(platform=system)
    path = unit_path()
    if shutil.which("systemctl") is not None:
        _run(["systemctl", "--user", "disable", "--now", UNIT])
    path.unlink(missing_ok=True)
    if shutil.which("systemctl") is not None:
        _run(["systemctl", "--user", "daemon-reload"])
    return status(platform=system)


def status(*, platform: str | None = None) -> ServiceState:
    system = platform or sys.platform
    if system == "win32":
        done = _run(["schtasks", "/Query", "/TN", TASK, "/FO", "LIST"])
        installed = done.returncode == 0
        running = "Running" in done.stdout if installed else False
        return ServiceState(installed, running, f"Task Scheduler: {TASK}")
    if system == "darwin":
        path = agent_path()
        done = _run(["launchctl", "print", f"gui/{os.getuid()}/{AGENT_LABEL}"])
        running = "state = running" in done.stdout if done.returncode == 0 else False
        return ServiceState(path.is_file(), running if path.is_file() else False, str(path))
    path = unit_path()
    if shutil.which("systemctl") is None:
        return ServiceState(path.is_file(), None, str(path), "no systemctl here")
    done = _run(["systemctl", "--user", "is-active", UNIT])
    state = done.stdout.strip()
    if done.returncode != 0 and state not in ("inactive", "failed", "activating"):
        return ServiceState(path.is_file(), None, str(path),
                            done.stderr.strip() or "systemd's user manager does not answer")
    return ServiceState(path.is_file(), state == "active", str(path), state)


__all__ = ["AGENT_LABEL", "TASK", "UNIT", "ServiceError", "ServiceState", "agent_path",
           "install", "render_agent", "render_unit", "status", "uninstall", "unit_path",
           "watch_command"]
