"""The support bundle and the app log: canary secrets planted everywhere they could leak
never reach the zip or the log file; the bundle reads back for the support person."""

from __future__ import annotations

import logging
import os
import stat
import zipfile
from pathlib import Path

import pytest

from ibdesk import applog
from ibdesk.domain.enums import Environment, ServerStatus, TwoFactorHandler
from ibdesk.sandbox import IBKRUser, Sandbox
from ibdesk.secrets import SSH_PRIVATE_KEY
from ibdesk.services.connect.provisioner import ConnectRequest
from ibdesk.services.support.bundle import USERNAME_MASK, BundleBuilder, inspect_bundle
from tests.helpers import CANARY_PASSWORD
from tests.helpers.e2e import options, provisioner, runtime_for

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
            # a logger named for secrets is not an assignment: its message stays readable
            assert "ibdesk.secrets: stored secret" in texts["app.log"]
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


def _strings(data: object) -> list[str]:
    """Every string in decoded JSON, keys included."""
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        return [s for k, v in data.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(data, list):
        return [s for v in data for s in _strings(v)]
    return []


async def test_values_json_would_escape_are_hidden_too(home: Path, tmp_path: Path) -> None:
    """Redaction runs on the values before they are encoded: after encoding, `Jörg.Müller`
    is `J\\u00f6rg.M\\u00fcller` and a password with a quote is `…\\"…`, and a text search
    for the value finds neither (issue 13, point 8). Checked in the decoded JSON as well
    as in the raw bytes."""
    import json

    name = "Jörg.Müller"
    async with Sandbox(options(users=[IBKRUser(name, CANARY_PASSWORD)])) as sandbox:
        rt = runtime_for(sandbox, home)
        try:
            account = await provisioner(rt).connect(ConnectRequest(
                username=name, password=CANARY_PASSWORD, environment=Environment.PAPER))
            rt.repository.record_status(account.id, ServerStatus.ERROR,
                                        f"{name} typed {CANARY_PASSWORD} into a form")
            rt.repository.update_account(account.id, custom_data={
                "note": f"from {name}", f"key {CANARY_PASSWORD}": "as a key"})
            out = tmp_path / "support.zip"
            os.umask(0o022)  # the umask the window may run with
            await BundleBuilder(rt).build(account.id, out)
            if os.name == "posix":  # the customer's account and history: theirs only
                assert stat.S_IMODE(out.stat().st_mode) == 0o600
            with zipfile.ZipFile(out) as zf:
                raw = {n: zf.read(n) for n in zf.namelist()}
            for file, data in raw.items():
                for value in (name, CANARY_PASSWORD):
                    assert value.encode() not in data, f"{value!r} in {file}"
                    assert json.dumps(value)[1:-1].encode() not in data, f"escaped in {file}"
                if file.endswith(".json"):
                    for text in _strings(json.loads(data)):
                        assert name not in text and CANARY_PASSWORD not in text, \
                            f"{file} decodes to {text!r}"
            account_json = json.loads(raw["account.json"])
            assert account_json["username"] == USERNAME_MASK
            assert "[REDACTED]" in raw["history.json"].decode()
            assert "Jörg" not in raw["account.json"].decode()
        finally:
            rt.close()


async def test_a_database_urls_password_stays_out(home: Path, tmp_path: Path) -> None:
    async with Sandbox(options()) as sandbox:
        rt = runtime_for(sandbox, home)
        try:
            assert rt.repository is not None  # opened on the SQLite file first
            rt.settings = rt.settings.model_copy(update={
                "database_url": "postgresql://ibdesk:db-Pa55word@db.example/ibdesk"})
            out = tmp_path / "support.zip"
            await BundleBuilder(rt).build(None, out)
            texts = _zip_texts(out)
            assert "db-Pa55word" not in str(texts)
            assert "postgresql://ibdesk:[REDACTED]@db.example/ibdesk" in texts["settings.json"]
        finally:
            rt.close()
