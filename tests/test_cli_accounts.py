"""The account commands as a terminal user meets them (sandbox mode, in process)."""

from __future__ import annotations

import json

import pytest

from tests.test_cli import run


def test_connect_without_wait_then_list_status_delete(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--sandbox", "--json", "connect", "--username", "sandboxdemo",
                         "--environment", "paper", "--password-stdin",
                         stdin="sandbox-demo-pass\n")
    assert code == 0, err
    made = json.loads(out)
    assert made["status"] == "provisioning" and made["environment"] == "paper"
    assert made["service_id"] and made["account_id"].startswith("ib-paper-")
    assert "--resume" in made["message"]
    assert "[5/8] ✓ Created sandboxdemo-ib-paper-1" in err  # progress goes to stderr

    code, out, _ = run(capsys, "--sandbox", "--json", "accounts")
    (listed,) = json.loads(out)["accounts"]
    assert listed["do_droplet_id"] == made["service_id"]
    assert listed["do_server_status"] == "provisioning"

    code, out, _ = run(capsys, "--sandbox", "status", made["account_id"])
    assert code == 0 and "provisioning" in out

    code, _, err = run(capsys, "--sandbox", "delete", made["account_id"])
    assert code == 1 and "--yes" in err
    code, out, _ = run(capsys, "--sandbox", "delete", made["account_id"], "--yes")
    assert code == 0 and "Deleted" in out
    code, out, _ = run(capsys, "--sandbox", "accounts")
    assert "No accounts yet" in out


def test_connect_refuses_bad_input_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--sandbox", "connect", "--username", "x", "--environment", "live",
                       "--password-stdin", stdin="pw")
    assert code == 1 and "2FA" in err and err.count("\n") == 1
    code, _, err = run(capsys, "--sandbox", "connect", "--username", "x", "--environment",
                       "demo")
    assert code == 1 and "--password-stdin" in err
    code, _, err = run(capsys, "--sandbox", "status", "ib-demo-00000000")
    assert code == 1 and "no account" in err
    with pytest.raises(SystemExit) as info:
        run(capsys, "connect", "--environment", "prod")
    assert info.value.code == 2


def test_stdin_password_keeps_inner_newlines(capsys: pytest.CaptureFixture[str]) -> None:
    from ibdesk.cli.accounts import _read_connect_secrets

    class Args:
        password_stdin = True
        two_fa = "PYOTP"

    import io
    import sys

    sys.stdin = io.StringIO("TOTPSECRET\nline one\nline two\n")
    try:
        password, totp = _read_connect_secrets(Args())  # type: ignore[arg-type]
    finally:
        sys.stdin = sys.__stdin__
    assert (password, totp) == ("line one\nline two", "TOTPSECRET")


def test_a_refused_size_is_said_before_anything_is_made(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--sandbox", "connect", "--username", "sandboxdemo",
                       "--environment", "paper", "--size", "s-1vcpu-512mb-10gb",
                       "--region", "tor1", "--password-stdin", stdin="sandbox-demo-pass")
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert "not offered in tor1" in last and "s-1vcpu-1gb" in last
    assert "--resume" not in last  # nothing was recorded: nothing to resume or delete


def test_history_orphans_and_password_commands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--sandbox", "--json", "connect", "--username", "sandboxdemo",
                         "--environment", "paper", "--password-stdin", "--wait",
                         stdin="sandbox-demo-pass")
    assert code == 0, err
    account_id = json.loads(out)["account_id"]
    code, out, _ = run(capsys, "--sandbox", "--json", "history", account_id)
    statuses = [e["status"] for e in json.loads(out)["history"]]
    assert code == 0 and statuses == ["provisioning", "initializing", "running"]
    code, out, _ = run(capsys, "--sandbox", "history", account_id, "--limit", "1")
    assert out.count("\n") == 1 and "running" in out
    code, out, _ = run(capsys, "--sandbox", "orphans")
    assert code == 0 and "No orphan droplets." in out
    code, out, _ = run(capsys, "--sandbox", "--json", "reconcile")
    assert code == 0 and json.loads(out)["orphans"] == []
    code, out, err = run(capsys, "--sandbox", "password", account_id, "--password-stdin",
                         stdin="sandbox-demo-pass\n")
    assert code == 0, err
    assert "IBeam is logging in again" in out
    code, _, err = run(capsys, "--sandbox", "password", account_id, "--password-stdin",
                       stdin="")
    assert code == 1 and "No password" in err


def test_a_failed_connect_says_how_to_retry_or_delete(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--sandbox", "connect", "--username", "sandboxdemo",
                       "--environment", "paper", "--wait", "--password-stdin",
                       stdin="not-the-password")
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert "IBKR refused the username or password" in last
    assert "--resume ib-paper-" in last and "ibdesk delete ib-paper-" in last


def test_each_account_has_its_own_port_on_the_command_line(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 14, point 3: `local_port` in `accounts --json`, `ibdesk port ID [PORT]`."""
    code, out, err = run(capsys, "--sandbox", "--json", "connect", "--username", "sandboxdemo",
                         "--environment", "paper", "--password-stdin", stdin="sandbox-demo-pass\n")
    assert code == 0, err
    account_id = json.loads(out)["account_id"]
    code, out, _ = run(capsys, "--sandbox", "--json", "accounts")
    (listed,) = json.loads(out)["accounts"]
    port = listed["local_port"]
    assert isinstance(port, int) and port >= 5000
    code, out, _ = run(capsys, "--sandbox", "port", account_id)
    assert code == 0 and f"https://localhost:{port}" in out
    code, _, err = run(capsys, "--sandbox", "port", account_id, "80")
    assert code == 1 and "1024 to 65535" in err
    code, out, _ = run(capsys, "--sandbox", "--json", "port", account_id, str(port + 7))
    assert code == 0 and json.loads(out)["local_port"] == port + 7
    code, out, _ = run(capsys, "--sandbox", "accounts")
    assert f"https://localhost:{port + 7}" in out
    run(capsys, "--sandbox", "delete", account_id, "--yes")
