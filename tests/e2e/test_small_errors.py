"""Issue 13, point 11: small things that each gave a traceback, a half-made account, a
secret in an error, or a flooded log, now each a clear sentence (the rest of point 11 is
in tests/store/test_repository.py, tests/test_config.py, tests/domain/test_redaction.py,
tests/e2e/test_bundle.py and tests/e2e/test_monitor_worker.py)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
from pathlib import Path

import pytest

from ibdesk import applog
from ibdesk.domain.enums import ServerStatus
from ibdesk.domain.errors import InvalidInput
from ibdesk.sandbox import Sandbox
from ibdesk.secrets import totp_secret
from ibdesk.services import Runtime
from ibdesk.services.watch.monitor import Monitor
from tests.helpers import IBDESK
from tests.helpers.e2e import TOTP, provisioner, request


def _ibdesk(home: Path, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IBDESK_", "DIGITAL_"))}
    env["PYTHON_KEYRING_BACKEND"] = "ibdesk.sandbox.keyring.EnvFileKeyring"
    env["IBDESK_TEST_KEYRING_FILE"] = str(home.parent / "keyring.json")
    return subprocess.run([*IBDESK, "--sandbox", "--home", str(home),
                           *args], input=stdin, env=env, capture_output=True, timeout=180,
                          check=False)


def test_a_password_that_is_not_utf8_is_a_sentence_and_makes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "h"
    done = _ibdesk(home, "connect", "--username", "sandboxdemo", "--environment", "demo",
                   "--password-stdin", stdin=b"sandbox-d\xe9mo-pass\n")  # Latin-1 é
    err = done.stderr.decode()
    assert done.returncode == 1 and "Traceback" not in err, err
    assert "not UTF-8 text (byte 10 is 0xe9)" in err and "Nothing was changed" in err
    listed = _ibdesk(home, "--json", "accounts")
    assert listed.returncode == 0 and json.loads(listed.stdout)["accounts"] == []


async def test_a_spaced_lower_case_totp_secret_reaches_running(sandbox: Sandbox,
                                                                rt: Runtime) -> None:
    shown = " ".join(TOTP.lower()[i:i + 4] for i in range(0, len(TOTP), 4))
    account = await provisioner(rt).connect(request("live", totp_secret=shown))
    assert account.do_server_status is ServerStatus.RUNNING
    assert rt.secrets.get(totp_secret(account.id)) == TOTP


@pytest.mark.parametrize(("secret", "why"), [
    ("JBSWY3DPEHPK3PX1", "only letters A-Z and digits 2-7"),
    ("JBSWY3DP", "8 characters long"),
    ("JBSWY3DPEHPK3PXP0", "'0'"),
])
async def test_a_totp_secret_that_cannot_work_is_refused_before_anything(
        sandbox: Sandbox, rt: Runtime, secret: str, why: str) -> None:
    with pytest.raises(InvalidInput, match="cannot work") as caught:
        await provisioner(rt).connect(request("live", totp_secret=secret))
    assert why in caught.value.user_message and secret not in caught.value.user_message
    assert rt.repository.list_accounts() == [] and sandbox.world.droplets == {}


async def test_library_chatter_stays_out_of_the_app_log(sandbox: Sandbox, rt: Runtime) -> None:
    """asyncssh logs every connection and channel at INFO, httpx every request: a monitor
    of many accounts filled the app log with them and rotated ibdesk's own lines out."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)  # as the monitor process runs (its stderr reaches the log)
    log_file = applog.install(rt.settings.home)
    try:
        account = await provisioner(rt).connect(request("paper"))
        monitor = Monitor(rt)
        try:
            for _ in range(3):
                await monitor.cycle(force=True)
        finally:
            await monitor.close()
        logging.getLogger("asyncssh").warning("a library warning still comes through")
    finally:
        applog.uninstall()
        root.setLevel(level)
    text = log_file.read_text(encoding="utf-8")
    assert account.id in text  # ibdesk's own lines are there
    assert " INFO asyncssh" not in text and " INFO httpx" not in text
    assert "a library warning still comes through" in text
