"""`ibdesk service`: the systemd user unit as systemd reads it, what install and uninstall
do here (a real systemctl with no user manager, then one that answers), the launchd
agent."""

from __future__ import annotations

import os
import plistlib
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from ibdesk import service

pytestmark = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                reason="systemd-analyze is not installed")


def _verify(tmp_path: Path, unit: str) -> subprocess.CompletedProcess[str]:
    """`systemd-analyze verify` in a root holding the unit, the program it runs and
    systemd's own targets (default.target, network-online.target)."""
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    units = root / "etc/systemd/system"
    units.mkdir(parents=True)
    program = root / "usr/bin/ibdesk"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    (units / service.UNIT).write_text(unit)
    lib = root / "lib/systemd/system"
    lib.mkdir(parents=True)
    for target in Path("/lib/systemd/system").glob("*.target"):
        shutil.copy(target, lib / target.name)
    return subprocess.run(["systemd-analyze", "verify", "--man=no", f"--root={root}",
                           str(units / service.UNIT)], capture_output=True, text=True,
                          check=False)


def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    unit = service.render_unit(["/usr/bin/ibdesk", "watch", "--home", "/home/jane/my data"])
    result = _verify(tmp_path, unit)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    assert "ExecStart=/usr/bin/ibdesk watch --home '/home/jane/my data'" in unit
    assert "Restart=on-failure" in unit and "WantedBy=default.target" in unit


def test_systemd_analyze_can_fail_here(tmp_path: Path) -> None:
    broken = service.render_unit(["/usr/bin/missing-ibdesk", "watch"]).replace(
        "Restart=on-failure", "Restart=sometimes")
    result = _verify(tmp_path, broken)
    assert result.returncode != 0 or result.stderr.strip()


def test_install_without_a_user_manager_says_what_to_do(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine's real systemctl has no user manager to talk to (a container): the
    unit is written, and the error says why it is not running and what to do."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    if shutil.which("systemctl") is None:
        pytest.skip("no systemctl here")
    if subprocess.run(["systemctl", "--user", "is-system-running"], capture_output=True,
                      check=False).returncode == 0:
        pytest.skip("a user manager answers here: the next test covers it")
    with pytest.raises(service.ServiceError, match="user manager does not answer"):
        service.install(Path("/home/jane/ibdesk"))
    unit = service.unit_path()
    assert unit.read_text().count("--home /home/jane/ibdesk") == 1
    state = service.status()
    assert state.installed and state.running is None
    service.uninstall()
    assert not unit.exists() and not service.status().installed


def test_install_enables_and_starts_the_unit(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """With a systemctl that answers (a script that records what it is asked and keeps
    the state systemd would), install enables and starts, uninstall undoes both."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls"
    fake = bin_dir / "systemctl"
    fake.write_text(f"""#!/bin/sh
echo "$*" >> {log}
case "$*" in
  *"enable --now"*) touch {tmp_path}/active ;;
  *"disable --now"*) rm -f {tmp_path}/active ;;
  *is-active*) if [ -e {tmp_path}/active ]; then echo active; else echo inactive; exit 3; fi ;;
esac
""")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    state = service.install()
    assert state.installed and state.running is True
    assert log.read_text().splitlines()[:2] == ["--user daemon-reload",
                                                f"--user enable --now {service.UNIT}"]
    state = service.uninstall()
    assert not state.installed and state.running is False
    assert f"--user disable --now {service.UNIT}" in log.read_text()


def test_the_launchd_agent_keeps_ibdesk_watch_running() -> None:
    agent = plistlib.loads(service.render_agent(["/Applications/ibdesk.app/Contents/MacOS/"
                                                 "ibdesk", "watch"]))
    assert agent["Label"] == service.AGENT_LABEL and agent["RunAtLoad"] is True
    assert agent["ProgramArguments"][-1] == "watch"
    assert agent["KeepAlive"] == {"SuccessfulExit": False}
