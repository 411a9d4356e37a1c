"""The CLI as a user meets it: exit codes, one clear stderr line, --json."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import respx

from ibdesk import __version__
from ibdesk.cli import main
from ibdesk.secrets import DO_TOKEN, SecretStore
from tests import spec
from tests.helpers import CANARY_TOKEN, IBDESK, PYTHON

API = "https://do.test"
ACCOUNT = spec.sample("account/account_get.yml", 200)[0]


@pytest.fixture(autouse=True)
def _api_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IBDESK_DO_API_URL", API)


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=API, assert_all_called=False) as router:
        yield router


def run(capsys: pytest.CaptureFixture[str], *argv: str, stdin: str = "") -> tuple[int, str, str]:
    sys.stdin = io.StringIO(stdin)
    try:
        code = main(list(argv))
    finally:
        sys.stdin = sys.__stdin__
    out, err = capsys.readouterr()
    return code, out, err


def test_version_as_a_real_process() -> None:
    for cmd in ([*IBDESK, "--version"],):
        result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=60)
        assert result.returncode == 0
        assert result.stdout.strip() == f"ibdesk {__version__}"


def test_info_is_the_default(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    code, out, err = run(capsys, "info")
    assert code == 0, err
    assert str(home) in out and "token         not set" in out
    assert "ibdesk token set" in out
    code, out, _ = run(capsys, "info", "--json")
    data = json.loads(out)
    assert data["home"] == str(home) and data["token_stored"] is False
    assert data["schema"] == data["schema_head"]
    assert data["defaults"] == {"region": "nyc1", "size": "s-1vcpu-1gb", "image": "182556282"}


def test_home_flag(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "--json", "--home", str(tmp_path / "elsewhere"), "info")
    assert code == 0
    assert json.loads(out)["home"] == str(tmp_path / "elsewhere")
    assert (tmp_path / "elsewhere" / "ibdesk.sqlite3").exists()


def test_token_set_check_clear(capsys: pytest.CaptureFixture[str], api: respx.MockRouter) -> None:
    api.get("/v2/account").respond(200, json=ACCOUNT)
    code, out, err = run(capsys, "token", "set", "--stdin", stdin=CANARY_TOKEN + "\n")
    assert code == 0, err
    assert "sammy@digitalocean.com" in out and "droplet limit  25" in out
    assert SecretStore().get(DO_TOKEN) == CANARY_TOKEN

    code, out, _ = run(capsys, "token", "check", "--json")
    assert code == 0
    assert json.loads(out) == {"email": "sammy@digitalocean.com", "droplet_limit": 25,
                               "status": "active",
                               "uuid": "b6fr89dbf6d9156cace5f3c78dc9851d957381ef"}
    code, out, _ = run(capsys, "token", "clear")
    assert code == 0 and "removed" in out
    code, out, err = run(capsys, "token", "check")
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("ibdesk: No DigitalOcean API token")


def test_bad_token_one_line_error(capsys: pytest.CaptureFixture[str],
                                  api: respx.MockRouter) -> None:
    api.get("/v2/account").respond(401, json=spec.error_example("unauthorized"))
    code, out, err = run(capsys, "token", "set", "--stdin", stdin=CANARY_TOKEN)
    assert code == 1
    assert err.startswith("ibdesk: DigitalOcean does not accept this API token")
    assert err.count("\n") == 1
    assert CANARY_TOKEN not in out + err
    code, out, err = run(capsys, "--json", "token", "set", "--stdin", stdin="x")
    assert code == 1 and "error" in json.loads(out)


def test_token_set_without_terminal_needs_stdin(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "token", "set")
    assert code == 1 and "--stdin" in err


def test_invalid_setting_is_one_line(capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGITAL_OCEAN_REGION", "mars")
    code, _, err = run(capsys, "info")
    assert code == 1
    assert err.startswith("ibdesk: Setting DIGITAL_OCEAN_REGION is invalid")
    assert err.count("\n") == 1


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
    assert "ibdesk:" in capsys.readouterr().err


def test_corrupt_database_is_reported(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    home.mkdir(parents=True)
    (home / "ibdesk.sqlite3").write_bytes(b"garbage" * 1000)
    code, _, err = run(capsys, "info")
    assert code == 1
    assert str(home / "ibdesk.sqlite3") in err and "damaged" in err


def test_sandbox_mode_has_its_own_folder_and_marker(capsys: pytest.CaptureFixture[str],
                                                    home: Path) -> None:
    code, out, err = run(capsys, "--sandbox", "info")
    assert code == 0, err
    assert out.startswith("SANDBOX:")
    assert "sandboxdemo / sandbox-demo-pass" in out
    assert str(home / "sandbox") in out
    assert (home / "sandbox" / "sandbox-world.json").exists()
    assert not (home / "ibdesk.sqlite3").exists()  # real data never touched
    code, out, _ = run(capsys, "--sandbox", "token", "check", "--json")
    assert code == 0 and json.loads(out)["email"] == "sandbox@ibdesk.invalid"
    code, out, _ = run(capsys, "--sandbox", "--json", "info")
    data = json.loads(out)
    assert data["sandbox"]["ibkr_username"] == "sandboxdemo" and data["token_stored"]
    # the real (non-sandbox) keyring service holds nothing
    assert SecretStore().get(DO_TOKEN) is None


def test_sandbox_mode_ignores_a_real_token_in_the_environment(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGITAL_OCEAN_API_KEY", CANARY_TOKEN)
    code, out, _ = run(capsys, "--sandbox", "token", "check")
    assert code == 0 and "sandbox@ibdesk.invalid" in out
    assert SecretStore("ibdesk-sandbox").get(DO_TOKEN) != CANARY_TOKEN


def test_only_a_bare_command_line_takes_the_quick_window_path() -> None:
    from ibdesk.cli.app import window_request

    assert window_request([]) == (None, False)
    assert window_request(["--sandbox"]) == (None, True)
    assert window_request(["--home", "/x", "--sandbox"]) == ("/x", True)
    assert window_request(["--home=/y"]) == ("/y", False)
    for argv in (["info"], ["--json"], ["--version"], ["-h"], ["--home"], ["--sandbox", "doctor"]):
        assert window_request(argv) is None, argv


def test_the_window_path_loads_no_command_module() -> None:
    code = ("import sys, ibdesk.cli.app; "
            "print(any(m in sys.modules for m in ('ibdesk.cli.accounts', 'ibdesk.services."
            "provisioner', 'asyncssh', 'httpx')))")
    result = subprocess.run([*PYTHON, "-c", code], capture_output=True, text=True,
                            check=True, timeout=60)
    assert result.stdout.strip() == "False"


def test_a_corrupt_database_is_reported_by_the_fast_listing_too(
        capsys: pytest.CaptureFixture[str], home: Path) -> None:
    """`accounts` reads with sqlite3 when it can; a damaged file goes to the usual path,
    which names it."""
    home.mkdir(parents=True)
    (home / "ibdesk.sqlite3").write_bytes(b"garbage" * 1000)
    code, _, err = run(capsys, "accounts")
    assert code == 1
    assert str(home / "ibdesk.sqlite3") in err and "damaged" in err


def test_a_reader_that_goes_away_ends_the_listing_quietly(home: Path) -> None:
    """`ibdesk accounts | head -1`: exit 141 like a shell tool, no traceback."""
    assert main(["accounts"]) == 0  # the store exists from here on (the fast path)
    reader, writer = os.pipe()
    os.close(reader)
    try:
        done = subprocess.run([*IBDESK, "accounts"], stdout=writer, stderr=subprocess.PIPE,
                              text=True, timeout=60, check=False)
    finally:
        os.close(writer)
    assert done.returncode == 141 and done.stderr == ""
