"""The stock image's user_data and unit, checked by the real tools: `cloud-init schema`
for the cloud-config and `systemd-analyze verify` for the unit, as a droplet would read
them (skipped only off CI: `python3 .ci/dev.py test` installs both and sets
IBDESK_REQUIRE_TOOLS)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ibdesk.cloud.userdata import UNIT_PATH, render_cloud_init, render_unit
from ibdesk.domain import ibeam as ib
from ibdesk.sandbox.docker import parse_run
from ibdesk.sandbox.systemd import parse_unit


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("IBDESK_REQUIRE_TOOLS"):
            pytest.fail(f"{name} must be here (python3 .ci/dev.py test installs it)")
        pytest.skip(f"{name} is not installed")
    return path


def _schema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_tool("cloud-init"), "schema", "--config-file", str(path)],
                          capture_output=True, text=True, check=False)


@pytest.mark.parametrize("swap_mb", [0, 1024])
def test_cloud_config_passes_cloud_init_schema(tmp_path: Path, swap_mb: int) -> None:
    path = tmp_path / "user-data"
    path.write_text(render_cloud_init(swap_mb=swap_mb))
    result = _schema(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Valid cloud-config" in result.stdout


def test_cloud_init_schema_can_fail(tmp_path: Path) -> None:
    """The check is real: a broken cloud-config is refused."""
    config = yaml.safe_load(render_cloud_init())
    config["write_files"][0]["permissions"] = 644  # an int, where cloud-init wants a string
    config["packages"] = "docker.io"  # a string, where cloud-init wants a list
    path = tmp_path / "user-data"
    path.write_text("#cloud-config\n" + yaml.safe_dump(config))
    assert _schema(path).returncode != 0


def _fake_root(tmp_path: Path, unit: str) -> Path:
    """A droplet's filesystem as far as systemd looks: the unit, the docker CLI and its
    unit (what `apt-get install docker.io` brings), and systemd's own targets."""
    root = tmp_path / "root"
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "usr/bin").mkdir(parents=True)
    units = root / "lib/systemd/system"
    units.mkdir(parents=True)
    (root / UNIT_PATH.lstrip("/")).write_text(unit)
    docker = root / "usr/bin/docker"
    docker.write_text("#!/bin/sh\n")
    docker.chmod(0o755)
    (units / "docker.service").write_text(
        "[Unit]\nDescription=Docker\n[Service]\nExecStart=/usr/bin/docker\n")
    for target in Path("/lib/systemd/system").glob("*.target"):
        shutil.copy(target, units / target.name)
    return root


def _verify(tmp_path: Path, unit: str) -> subprocess.CompletedProcess[str]:
    root = _fake_root(tmp_path, unit)
    return subprocess.run([_tool("systemd-analyze"), "verify", "--man=no", f"--root={root}",
                           str(root / UNIT_PATH.lstrip("/"))],
                          capture_output=True, text=True, check=False)


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    result = _verify(tmp_path, render_unit())
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_systemd_analyze_can_fail(tmp_path: Path) -> None:
    broken = render_unit().replace("ExecStart=/usr/bin/docker", "ExecStart=docker-missing")
    result = _verify(tmp_path, broken.replace("Restart=no", "Restart=no\nBogusKey=1"))
    assert result.returncode != 0 or result.stderr.strip()


def test_the_unit_in_the_cloud_config_is_the_one_verified() -> None:
    config = yaml.safe_load(render_cloud_init())
    (entry,) = [f for f in config["write_files"] if f["path"] == UNIT_PATH]
    assert entry["content"] == render_unit()


def test_what_the_unit_runs() -> None:
    """Read as the sandbox (and Docker) read it: pinned image, no --rm, loopback ports,
    the secrets read-only, the outputs folder mounted where IBeam writes its log."""
    unit = parse_unit("ibeam.service", render_unit())
    assert unit.restart == "no" and unit.requires == ["docker.service"]
    spec = parse_run(unit.exec_start[2:])
    assert spec.image == ib.IBEAM_IMAGE == "voyz/ibeam:0.5.12"
    assert not spec.remove, "--rm deletes IBeam's container, and its log, when it stops"
    assert spec.env_files == [ib.ENV_FILE]
    assert {(m.source, m.target, m.read_only) for m in spec.mounts} == {
        (ib.SECRETS_DIR, ib.SECRETS_DIR, True),
        (ib.OUTPUTS_DIR, ib.CONTAINER_OUTPUTS_DIR, False)}
    assert {(p.host_ip, p.host_port, p.container_port) for p in spec.publish} == {
        ("127.0.0.1", 5000, 5000), ("127.0.0.1", 5001, 5001)}


def test_cloud_config_makes_ibeams_folders_for_its_user() -> None:
    config = yaml.safe_load(render_cloud_init())
    assert config["packages"] == ["docker.io"] and config["package_update"] is True
    runcmd = [" ".join(map(str, c)) for c in config["runcmd"]]
    assert f"install -d -m 0700 -o 1000 -g 1000 {ib.SECRETS_DIR}" in runcmd
    assert f"install -d -m 0700 -o 1000 -g 1000 {ib.OUTPUTS_DIR}" in runcmd
    assert any(f"docker pull {ib.IBEAM_IMAGE}" in c for c in runcmd)
    text = render_cloud_init()
    assert "PASSWORD=" not in text and "--rm" not in text
