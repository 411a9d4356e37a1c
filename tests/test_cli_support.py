"""`ibdesk doctor | logs | bundle` as a terminal user meets them (sandbox mode, in process)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from tests.test_cli import run


def _connect(capsys: pytest.CaptureFixture[str]) -> str:
    code, out, err = run(capsys, "--sandbox", "--json", "connect", "--username", "sandboxdemo",
                         "--environment", "demo", "--password-stdin", "--wait",
                         stdin="sandbox-demo-pass\n")
    assert code == 0, err
    return str(json.loads(out)["account_id"])


def test_doctor_logs_and_bundle(capsys: pytest.CaptureFixture[str], home: Path,
                                tmp_path: Path) -> None:
    code, out, err = run(capsys, "--sandbox", "doctor")
    assert code == 0, out + err
    assert "[ok  ] DigitalOcean token" in out and "checks: 0 failed" in out
    account_id = _connect(capsys)

    code, out, err = run(capsys, "--sandbox", "--json", "doctor", account_id)
    data = json.loads(out)
    assert code == 0 and data["ok"] is True, out
    assert [c["key"] for c in data["checks"]][-3:] == ["readyz", "auth", "log"]

    code, out, err = run(capsys, "--sandbox", "logs", account_id, "-n", "3")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 3 and "|I|" in lines[-1]
    code, out, _ = run(capsys, "--sandbox", "logs", account_id, "--files", "-n", "2")
    assert code == 0 and "/srv/ibeam/outputs/ibeam_log__" in out and "--- end of" in out

    target = tmp_path / "b.zip"
    code, out, err = run(capsys, "--sandbox", "bundle", account_id, "-o", str(target))
    assert code == 0, err
    assert "username is hidden" in out and zipfile.is_zipfile(target)
    code, out, _ = run(capsys, "--sandbox", "bundle", "--inspect", str(target))
    assert code == 0 and account_id in out and "Doctor: all" in out
    code, _, err = run(capsys, "--sandbox", "bundle", account_id)
    assert code == 2 and "-o FILE.zip" in err

    # The app's own log: a file in the data folder, redacted.
    log_text = (home / "sandbox" / "logs" / "ibdesk.log").read_text(encoding="utf-8")
    assert "doctor" in log_text and "sandbox-demo-pass" not in log_text


def test_doctor_fails_with_exit_1_and_offers_the_fix(capsys: pytest.CaptureFixture[str]) -> None:
    account_id = _connect(capsys)
    code, _, err = run(capsys, "--sandbox", "stop", account_id, "--yes")
    assert code == 0, err
    code, out, err = run(capsys, "--sandbox", "doctor", account_id)
    assert code == 1 and "[FAIL] Droplet" in out and "is off" in out
    assert "Fix available: start the server (run with --fix to apply)" in err
    code, out, err = run(capsys, "--sandbox", "doctor", account_id, "--fix")
    assert code == 1 and "The server is starting." in err
    code, out, err = run(capsys, "--sandbox", "doctor", "ib-demo-00000000")
    assert code == 1 and "no account" in err
