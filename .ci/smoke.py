#!/usr/bin/env python3
"""Prove an *installed* ibdesk works: the program a trader's installer put on the machine,
not the checkout. The same script is meant for the .deb here and the MSI / DMG on their
own runners (.github/workflows/installers.yml); only the standard library is used.

    python3 .ci/smoke.py [/usr/bin/ibdesk] [--window]

Checks, each failing loudly with what it saw:
1. `ibdesk --version` names this version; `ibdesk --json info` is JSON.
2. Five sandbox connects in a row, each to `running` and deleted again (a packaged
   Python once died of SIGPIPE at a write to a closed socket in 3 of 6 such runs).
3. On Linux with gnome-keyring installed: a connect whose password goes through a real
   Secret Service (its own D-Bus session and keyring folder).
4. With --window (needs a display, e.g. under xvfb-run): the window on the sandbox starts
   its monitor worker from the packaged executable, and the worker probes the account
   (its check time moves on); closing it (SIGTERM) leaves nothing running.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VERSION = "0.1.0"


def _say(text: str) -> None:
    print(f"[smoke] {text}", flush=True)


def _run(exe: str, *args: str, home: Path, stdin: str | None = None,
         timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_DATA_HOME=str(home / ".local/share"), IBDESK_HOME=str(home / "ibdesk"))
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)  # the sandbox keeps its own fake secrets
    done = subprocess.run([exe, *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout, env=env)
    if done.returncode != 0:
        raise SystemExit(f"`ibdesk {' '.join(args)}` exited {done.returncode}:\n"
                         f"{done.stdout}\n{done.stderr}")
    return done


def _processes(pattern: str) -> list[str]:
    found = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in found.splitlines()[1:] if re.search(pattern, line)
            and "smoke.py" not in line]


def basics(exe: str, home: Path) -> None:
    out = _run(exe, "--version", home=home).stdout.strip()
    if out != f"ibdesk {VERSION}":
        raise SystemExit(f"--version said {out!r}")
    info = json.loads(_run(exe, "--json", "info", home=home).stdout)
    _say(f"--version: {out}; info: data in {info.get('home') or info}")


def desktop_entry() -> None:
    """What a .deb puts in the desktop's menu: the entry, its icon, the program."""
    entry = Path("/usr/share/applications/app.ibdesk.ibdesk.desktop")
    if not entry.exists():
        raise SystemExit(f"no desktop entry at {entry}")
    text = entry.read_text()
    if "Exec=/usr/bin/ibdesk" not in text or "Icon=app.ibdesk.ibdesk" not in text:
        raise SystemExit(f"the desktop entry is not ibdesk's:\n{text}")
    icons = list(Path("/usr/share/icons/hicolor").glob("*/apps/app.ibdesk.ibdesk.png"))
    if len(icons) < 4:
        raise SystemExit(f"icons missing: {icons}")
    _say(f"desktop entry and {len(icons)} icon sizes in place")


def connects(exe: str, home: Path, times: int = 5) -> None:
    for attempt in range(1, times + 1):
        started = time.monotonic()
        made = json.loads(_run(exe, "--sandbox", "--json", "connect", "--username",
                               "sandboxdemo", "--environment", "paper", "--password-stdin",
                               "--wait", home=home, stdin="sandbox-demo-pass\n").stdout)
        if made.get("status") != "running":
            raise SystemExit(f"connect {attempt}: {made}")
        _run(exe, "--sandbox", "delete", made["account_id"], "--yes", home=home)
        listed = json.loads(_run(exe, "--sandbox", "--json", "accounts", home=home).stdout)
        if listed["accounts"]:
            raise SystemExit(f"connect {attempt}: accounts left after delete: {listed}")
        _say(f"connect {attempt}/{times}: running and deleted in "
             f"{time.monotonic() - started:.1f} s")


def real_keyring(exe: str, home: Path) -> None:
    """With a real Secret Service running (gnome-keyring in its own D-Bus session and its
    own XDG_DATA_HOME, so no other daemon's keyring file is touched), the packaged app
    keeps the sandbox login's password there and reads it back to deliver it."""
    if not (shutil.which("dbus-run-session") and shutil.which("gnome-keyring-daemon")):
        _say("no dbus-run-session / gnome-keyring-daemon here: real keyring not tried")
        return
    data = home / "keyring-data"
    data.mkdir()
    script = ('eval "$(printf \'\\n\' | gnome-keyring-daemon --unlock --components=secrets)"'
              ' >/dev/null && '
              f'"{exe}" --sandbox --json connect --username sandboxdemo --environment paper '
              '--password-stdin --wait < "$1" > "$2" && '
              f'"{exe}" --sandbox --json info > "$3"')
    secret = home / "pw"
    secret.write_text("sandbox-demo-pass\n")
    made, info = home / "made.json", home / "info.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBUS_")}
    env.update(HOME=str(home), XDG_DATA_HOME=str(data), XDG_CONFIG_HOME=str(home / ".config"),
               IBDESK_HOME=str(home / "ibdesk-keyring"))
    done = subprocess.run(["dbus-run-session", "--", "sh", "-c", script, "sh", str(secret),
                           str(made), str(info)], env=env, capture_output=True, text=True,
                          timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"the real-keyring run failed ({done.returncode}):\n{done.stderr}")
    backend = json.loads(info.read_text()).get("keyring", "")
    status = json.loads(made.read_text()).get("status")
    if "SecretService" not in str(backend) or status != "running":
        raise SystemExit(f"real keyring: backend {backend!r}, connect {status!r}")
    _say(f"real Secret Service: {backend}; the login's password kept there and delivered")


def window(exe: str, home: Path) -> None:
    made = json.loads(_run(exe, "--sandbox", "--json", "connect", "--username", "sandboxdemo",
                           "--environment", "paper", "--password-stdin", "--wait",
                           home=home, stdin="sandbox-demo-pass\n").stdout)
    account_id = made["account_id"]

    def checked() -> str | None:
        listed = json.loads(_run(exe, "--sandbox", "--json", "accounts", home=home).stdout)
        return next((a["do_last_status_check"] for a in listed["accounts"]
                     if a["account_id"] == account_id), None)

    before = checked()
    env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_DATA_HOME=str(home / ".local/share"), IBDESK_HOME=str(home / "ibdesk"))
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    app = subprocess.Popen([exe, "--sandbox"], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not _processes(r"monitor-worker"):
            if app.poll() is not None:
                raise SystemExit(f"the window exited {app.returncode}: {app.stderr.read()}")
            time.sleep(0.5)
        workers = _processes(r"monitor-worker")
        if not workers:
            raise SystemExit("the window started no monitor worker within 120 s")
        _say(f"monitor worker: {workers[0].strip()[:120]}")
        while time.monotonic() < deadline and checked() == before:
            time.sleep(1.0)
        if checked() == before:
            raise SystemExit("the monitor worker never probed the account")
        _say("the worker probed the account (its check time moved on)")
    finally:
        app.send_signal(signal.SIGTERM)
        try:
            app.wait(30)
        except subprocess.TimeoutExpired:
            app.kill()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _processes(r"ibdesk.*(monitor-worker|--sandbox)"):
        time.sleep(0.5)
    left = _processes(r"ibdesk.*(monitor-worker|--sandbox)")
    if left:
        raise SystemExit(f"left running after the window closed: {left}")
    _run(exe, "--sandbox", "delete", account_id, "--yes", home=home)
    _say("window closed; nothing left running")


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    exe = args[0] if args else (shutil.which("ibdesk") or "/usr/bin/ibdesk")
    _say(f"testing {exe}")
    with tempfile.TemporaryDirectory(prefix="ibdesk-smoke-") as tmp:
        home = Path(tmp)
        basics(exe, home)
        if exe == "/usr/bin/ibdesk":
            desktop_entry()
        connects(exe, home)
        if sys.platform.startswith("linux"):
            real_keyring(exe, home)
        if "--window" in argv:
            window(exe, home)
    _say("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
