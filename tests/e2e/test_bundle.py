"""The support bundle and the app log: canary secrets planted everywhere they could leak
never reach the zip or the log file; the bundle reads back for the support person."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import pytest

from ibdesk import applog
from ibdesk.domain import Environment, ServerStatus, TwoFactorHandler
from ibdesk.sandbox import IBKRUser, Sandbox
from ibdesk.secrets import SSH_PRIVATE_KEY
from ibdesk.services.bundle import USERNAME_MASK, BundleBuilder, inspect_bundle
from ibdesk.services.provisioner import ConnectRequest
from tests.e2e.conftest import options, provisioner, runtime_for
from tests.helpers import CANARY_PASSWORD

CANARY_TOTP = "CANARYTOTPSECRETAAAAAAAAAAAAAAAA"
CANARY_TOKEN = "canary-token-Zq81-not-shaped-like-a-token"
USERNAME = "canaryuser"


def _zip_texts(path: Path) -> dict[str, str]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name).decode("utf-8", "replace") for name in zf.namelist()}


async def test_bundle_and_log_hold_no_secret(home: Path, tmp_path: Path) -> None:
    user = IBKRUser(USERNAME, CANARY_PASSWORD, totp_secret=CANARY_TOTP)
    async with Sandbox(options(users=[user], token=CANARY_TOKEN)) as sandbox:
        rt = runtime_for(sandbox, home)
        log_file = applog.install(rt.settings.home)
        try:
            account = await provisioner(rt).connect(ConnectRequest(
                username=USERNAME, password=CANARY_PASSWORD, environment=Environment.LIVE,
                two_fa_handler=TwoFactorHandler.PYOTP, totp_secret=CANARY_TOTP))
            private_key = rt.secrets.get(SSH_PRIVATE_KEY) or ""
            key_lines = [line for line in private_key.splitlines()[1:-1] if len(line) > 20]
            canaries = [CANARY_PASSWORD, CANARY_TOTP, CANARY_TOKEN, *key_lines]
            # Plant: the app log (message, args and a traceback), IBeam's log on the
            # droplet, the account row and its history.
            log = logging.getLogger("ibdesk.test")
            log.warning("leak: %s %s %s", CANARY_PASSWORD, CANARY_TOKEN, CANARY_TOTP)
            log.error("key %s", private_key)
            try:
                raise RuntimeError(f"failed with {CANARY_PASSWORD}")
            except RuntimeError:
                log.exception("boom")
            ibeam = sandbox.host(account.do_droplet_id or 0).ibeam
            ibeam.log("E", f"echoed {CANARY_PASSWORD} and {CANARY_TOTP}")
            data = {**rt.repository.require_account(account.id).custom_data,
                    "note": f"pasted {CANARY_TOKEN}"}
            rt.repository.update_account(account.id, custom_data=data)
            rt.repository.record_status(account.id, ServerStatus.RUNNING,
                                        f"reason with {CANARY_PASSWORD}")
            out = tmp_path / "support.zip"
            report = await BundleBuilder(rt).build(account.id, out)
            applog.uninstall()
            texts = _zip_texts(out)
            assert {"summary.json", "settings.json", "account.json", "history.json",
                    "doctor.json", "doctor.txt", "app.log", "ibeam.log"} <= set(texts)
            assert report.problems == []
            for name, text in texts.items():
                for canary in canaries:
                    assert canary not in text, f"a secret leaked into {name}"
                assert USERNAME not in text, f"the username leaked into {name}"
            assert "leak:" in texts["app.log"] and "[REDACTED]" in texts["app.log"]
            assert "echoed [REDACTED]" in texts["ibeam.log"]
            assert USERNAME_MASK in texts["account.json"]
            assert "Traceback" in texts["app.log"]
            on_disk = log_file.read_text(encoding="utf-8")
            for canary in canaries:
                assert canary not in on_disk, "a secret reached the app log file"
            assert "leak:" in on_disk

            with_name = tmp_path / "named.zip"
            await BundleBuilder(rt, include_username=True).build(account.id, with_name)
            assert USERNAME in _zip_texts(with_name)["account.json"]
            assert CANARY_PASSWORD not in str(_zip_texts(with_name))

            data, lines = inspect_bundle(out)
            text = "\n".join(lines)
            assert account.id in text and "running" in text
            assert data["summary"]["ibdesk"] and "Doctor: all 14 checks passed." in text
            ibeam.set_faults(access_denied=True)
            broken = tmp_path / "broken.zip"
            await BundleBuilder(rt).build(account.id, broken)
            data, lines = inspect_bundle(broken)
            text = "\n".join(lines)
            assert "Problems found by doctor" in text and "Access Denied" in text
            assert any(c["key"] == "auth" and c["state"] == "failed"
                       for c in data["failed_checks"])
        finally:
            applog.uninstall()
            rt.close()


def test_inspect_refuses_a_file_that_is_not_a_bundle(tmp_path: Path) -> None:
    from ibdesk.domain.errors import InvalidInput

    bad = tmp_path / "x.zip"
    bad.write_text("not a zip")
    with pytest.raises(InvalidInput, match="not a readable support bundle"):
        inspect_bundle(bad)
