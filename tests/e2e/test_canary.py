"""Secrets never leak: canaries searched everywhere they could land."""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from ibdesk.domain.enums import Environment, TwoFactorHandler
from ibdesk.sandbox import IBKRUser, Sandbox
from ibdesk.secrets import SSH_PRIVATE_KEY
from ibdesk.services.connect.provisioner import ConnectRequest
from tests.helpers import CANARY_PASSWORD, IBDESK
from tests.helpers.e2e import options, provisioner, runtime_for

CANARY_TOTP = "CANARYTOTPSECRETAAAAAAAAAAAAAAAA"


def _files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def _assert_absent(canaries: list[str], where: str, text: bytes | str) -> None:
    data = text.encode("utf-8", "replace") if isinstance(text, str) else text
    for canary in canaries:
        assert canary.encode() not in data, f"a secret leaked into {where}"


async def test_in_process_connect_leaks_nothing(home: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    user = IBKRUser("canaryuser", CANARY_PASSWORD, totp_secret=CANARY_TOTP)
    async with Sandbox(options(users=[user], token="dop_v1_" + "c4" * 32)) as sandbox:
        rt = runtime_for(sandbox, home)
        account = await provisioner(rt).connect(ConnectRequest(
            username="canaryuser", password=CANARY_PASSWORD, environment=Environment.LIVE,
            two_fa_handler=TwoFactorHandler.PYOTP, totp_secret=CANARY_TOTP))
        key_line = (rt.secrets.get(SSH_PRIVATE_KEY) or "").splitlines()[1]
        canaries = [CANARY_PASSWORD, CANARY_TOTP, sandbox.token, key_line]
        requests = list(sandbox.world.requests)
        rt.close()
    assert account.do_server_status.value == "running"
    assert any("user_data" in r["body"] for r in requests)  # user_data was looked at too
    for r in requests:
        _assert_absent(canaries, f"the API request {r['method']} {r['path']}", r["body"])
    _assert_absent(canaries, "the logs", caplog.text)
    for record in caplog.records:
        _assert_absent(canaries, "a log record's arguments", repr(record.args))
    for path in _files_under(home):
        _assert_absent(canaries, str(path), path.read_bytes())


@pytest.mark.real_keyring
@pytest.mark.slow
def test_cli_processes_leak_nothing(tmp_path: Path) -> None:
    if not (shutil.which("dbus-run-session") and shutil.which("gnome-keyring-daemon")):
        if os.environ.get("IBDESK_REQUIRE_REAL_KEYRING") == "1":
            pytest.fail("dbus-run-session / gnome-keyring-daemon are missing")
        pytest.skip("needs a real Secret Service (installed by the test command)")
    users = tmp_path / "users.json"
    users.write_text(json.dumps({"users": [{"username": "canaryuser",
                                            "password": CANARY_PASSWORD,
                                            "totp_secret": CANARY_TOTP}]}))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("IBDESK_", "DIGITAL_OCEAN_", "DBUS_"))}
    serve = subprocess.Popen(
        [*IBDESK, "sandbox", "serve", "--json", "--boot-seconds", "0.3",
         "--login-seconds", "0.3", "--action-seconds", "0.2", "--ibkr-users", str(users)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert serve.stdout is not None
        info = json.loads(serve.stdout.readline())
        token = info["token"]
        home = tmp_path / "home"
        (tmp_path / "token").write_text(token)
        (tmp_path / "stdin").write_text(f"{CANARY_TOTP}\n{CANARY_PASSWORD}\n")
        env.update(IBDESK_HOME=str(home), HOME=str(tmp_path), IBDESK_DO_API_URL=info["api_url"],
                   IBDESK_SANDBOX_SSH_MAP_URL=info["ssh_map_url"],
                   IBDESK_PUBLIC_IP_URL=info["public_ip_url"])
        ibdesk = shlex.join(IBDESK)
        script = (
            'eval "$(printf \'\\n\' | gnome-keyring-daemon --unlock --components=secrets)" '
            f'>/dev/null && {ibdesk} token set --stdin < "{tmp_path}/token" && '
            f'{ibdesk} --json connect --username canaryuser --environment live --two-fa PYOTP '
            f'--password-stdin --wait < "{tmp_path}/stdin" && {ibdesk} --json accounts')
        seen_args: list[str] = []
        done = threading.Event()

        def watch() -> None:  # the process list, while the CLI runs
            while not done.is_set():
                listing = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True,
                                         check=False).stdout
                seen_args.append(listing)
                time.sleep(0.05)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            cli = subprocess.run(["dbus-run-session", "--", "sh", "-c", script], env=env,
                                 capture_output=True, text=True, timeout=120, check=False)
        finally:
            done.set()
            watcher.join()
        assert cli.returncode == 0, cli.stderr
        documents = [json.loads(line) for line in cli.stdout.splitlines()
                     if line.startswith("{")]
        connected = documents[0]
        assert connected["status"] == "running" and connected["environment"] == "live"
        assert set(connected) >= {"account_id", "service_id", "status", "message",
                                  "environment"}
        listed = documents[1]["accounts"][0]
        assert set(listed) >= {"account_id", "environment", "status", "do_droplet_id",
                               "do_droplet_name", "do_server_status", "do_ip_address",
                               "do_region", "do_last_status_check"}
        requests = httpx.get(f"{info['api_url']}/_sandbox/v1/requests",
                             headers={"Authorization": f"Bearer {token}"}).json()["requests"]
    finally:
        serve.terminate()
        serve_out, serve_err = serve.communicate(timeout=30)
    canaries = [CANARY_PASSWORD, CANARY_TOTP, token]
    assert len(seen_args) > 3
    for listing in seen_args:
        _assert_absent(canaries, "the process list", listing)
    _assert_absent([CANARY_PASSWORD, CANARY_TOTP], "the CLI's output", cli.stdout + cli.stderr)
    _assert_absent([token], "the CLI's output", cli.stdout + cli.stderr)
    _assert_absent([CANARY_PASSWORD, CANARY_TOTP], "the sandbox's log", serve_err)
    for r in requests:
        _assert_absent(canaries, f"the API request {r['path']}", r["body"])
    for path in _files_under(home):
        _assert_absent(canaries, str(path), path.read_bytes())
