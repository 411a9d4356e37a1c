"""The support bundle: one zip a customer sends and support staff read in minutes.

What goes in: app, Python, Qt and OS versions; settings (no secret is a setting, the
token never was); the account row and its status history; the doctor's results; the
app's log; the tail of IBeam's output and newest log file. Every file passes through
`redact` with every secret of that account loaded from the keyring (token, IBKR
password, TOTP secret, SSH private key) plus the credential shapes, just before it is
written; the IBKR username is replaced too unless the customer opts in. Nothing is
written to the zip that did not pass through that one function.
"""

from __future__ import annotations

import json
import platform
import sys
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from ibdesk import __version__
from ibdesk.domain.diagnosis import CheckResult, CheckState, recognise
from ibdesk.domain.errors import IbdeskError, InvalidInput
from ibdesk.domain.naming import username_slug
from ibdesk.domain.redaction import redact, redact_url
from ibdesk.private_files import create_private
from ibdesk.secrets import DO_TOKEN, SSH_PRIVATE_KEY, ibkr_password, known_values, totp_secret
from ibdesk.services.remote import RemoteAccess, in_thread
from ibdesk.services.runtime import Runtime
from ibdesk.services.watch.alerts import Alerts

USERNAME_MASK = "<ibkr-username>"
APP_LOG_BYTES = 1_000_000
FORMAT_VERSION = 1

README = """\
ibdesk support bundle
=====================
summary.json   versions, OS, when and for which account this was made
settings.json  ibdesk's settings (no secrets are settings)
account.json   the account's row (IBKR username hidden unless the customer chose to include it)
history.json   every status change, newest last
doctor.json    the doctor's checks (doctor.txt: the same, readable)
app.log        ibdesk's own log (newest part)
ibeam.log      IBeam's container output and newest log file (tail)
Secrets (token, passwords, 2FA secrets, SSH keys) are replaced by [REDACTED].
Read it with: ibdesk bundle --inspect FILE.zip
"""


@dataclass
class BundleReport:
    path: Path
    files: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Parts that could not be collected (each said in the bundle too)."""


def _version(package: str) -> str | None:
    for name in (package, f"{package}-Essentials"):  # PySide6 ships in parts
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


class BundleBuilder:
    def __init__(self, rt: Runtime, *, include_username: bool = False) -> None:
        self._rt = rt
        self._include_username = include_username
        self._secrets: set[str] = set()
        self._usernames: set[str] = set()

    def _load_secrets(self, account_id: str | None) -> None:
        """Every secret of this token and account, read now so that each can be masked by
        value (the shapes alone would miss a password that looks like a word)."""
        names = [DO_TOKEN, SSH_PRIVATE_KEY]
        if account_id:
            names += [ibkr_password(account_id), totp_secret(account_id)]
        for name in names:
            try:
                value = self._rt.secrets.get(name)
            except IbdeskError:
                value = None
            if value:
                self._secrets.add(value)
                # a PEM key also appears line by line in some outputs
                self._secrets.update(line for line in value.splitlines() if len(line) >= 16)
        try:  # each alert URL on its own too (a log line names one, not the list)
            self._secrets.update(Alerts(self._rt).urls())
        except (IbdeskError, ValueError):
            pass

    def clean(self, text: str) -> str:
        text = redact(text, self._secrets | set(known_values()))
        for name in sorted(self._usernames, key=len, reverse=True):
            text = text.replace(name, USERNAME_MASK)
        return text

    def scrub(self, data: Any) -> Any:
        """`data` with `clean` applied to every string in it, keys included, before it is
        encoded: after encoding, JSON's escapes (`\\u00f6`, `\\"`) hide a value from a
        text search, so `Jörg.Müller` or a password with a quote would survive it."""
        if isinstance(data, str):
            return self.clean(data)
        if isinstance(data, dict):
            return {self.scrub(k) if isinstance(k, str) else k: self.scrub(v)
                    for k, v in data.items()}
        if isinstance(data, list | tuple):
            return [self.scrub(v) for v in data]
        return data

    def _json(self, data: object) -> str:
        return _json(self.scrub(data))

    async def build(self, account_id: str | None, output: Path) -> BundleReport:
        from ibdesk.services.support.doctor import Doctor

        await in_thread(self._load_secrets, account_id)
        report = BundleReport(output)
        store = self._rt.store
        account = await store.require_account(account_id) if account_id else None
        if account is not None and not self._include_username:
            self._usernames = {account.username, username_slug(account.username)}
        parts: dict[str, str] = {}
        parts["README.txt"] = README
        parts["summary.json"] = self._json(self._summary(account_id))
        parts["settings.json"] = self._json(self._settings())
        if account is not None:
            parts["account.json"] = self._json(account.model_dump(mode="json"))
            history = await store.history(account.id)
            parts["history.json"] = self._json([e.model_dump(mode="json") for e in history])
        results: list[CheckResult] = []
        try:
            async for result in Doctor(self._rt).run(account_id):
                results.append(result)
        except IbdeskError as exc:
            report.problems.append(f"doctor stopped: {exc.user_message}")
        parts["doctor.json"] = self._json([r.model_dump(mode="json") for r in results])
        parts["doctor.txt"] = format_checks(results)
        parts["app.log"] = await in_thread(self._app_log)
        if account is not None:
            parts["ibeam.log"] = await self._ibeam_log(account_id or "", report)
        if report.problems:
            parts["problems.txt"] = "\n".join(report.problems) + "\n"
        output.parent.mkdir(parents=True, exist_ok=True)
        temp = output.with_name(output.name + ".part")

        def write() -> None:
            create_private(temp)  # it holds the customer's account and history
            with zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                for name, text in parts.items():
                    zf.writestr(name, self.clean(text))
            temp.replace(output)

        await in_thread(write)
        report.files = list(parts)
        return report

    def _summary(self, account_id: str | None) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "account_id": account_id,
            "ibdesk": __version__,
            "python": platform.python_version(),
            "os": platform.platform(),
            "machine": platform.machine(),
            "frozen": bool(getattr(sys, "frozen", False)),
            "libraries": {name: _version(name) for name in (
                "PySide6", "qasync", "httpx", "asyncssh", "SQLAlchemy", "pydantic", "keyring")},
            "sandbox": self._rt.sandbox is not None,
            "username_included": self._include_username,
        }

    def _settings(self) -> dict[str, Any]:
        data = self._rt.settings.model_dump(mode="json", exclude={"api_key"})
        if data.get("database_url"):  # a server database's URL may carry its password
            data["database_url"] = redact_url(data["database_url"])
        data["keyring_backend"] = self._rt.secrets.backend_name
        return data

    def _app_log(self) -> str:
        from ibdesk.applog import log_path

        path = log_path(self._rt.settings.home)
        chunks: list[str] = []
        left = APP_LOG_BYTES
        for candidate in [path.with_name(path.name + ".1"), path]:
            if candidate.exists():
                data = candidate.read_bytes()[-left:]
                chunks.append(data.decode("utf-8", "replace"))
        text = "".join(chunks)
        return text[-APP_LOG_BYTES:] if text else "(no app log yet)\n"

    async def _ibeam_log(self, account_id: str, report: BundleReport) -> str:
        from ibdesk.domain import ibeam as ib
        from ibdesk.services.support.ibeam_logs import latest_file_tail

        account = await self._rt.store.require_account(account_id)
        try:
            async with RemoteAccess(self._rt).open(account) as remote:
                code, out, err = await remote.run(ib.logs_command(1000))
                name, tail = await latest_file_tail(remote)
        except IbdeskError as exc:
            report.problems.append(f"IBeam's log could not be read: {exc.user_message}")
            return f"(IBeam's log could not be read: {exc.user_message})\n"
        text = "=== docker logs --tail 1000 ibeam ===\n" + (out if code == 0 else
                                                         f"(failed: {err.strip()})\n")
        if name:
            text += f"\n=== {ib.OUTPUTS_DIR}/{name} (end) ===\n{tail}"
        return text


def _json(data: object) -> str:
    # ensure_ascii=False: what a support person reads is what was there (and what the
    # text pass over every file sees)
    return json.dumps(data, indent=2, sort_keys=True, default=str, ensure_ascii=False) + "\n"


SYMBOLS = {CheckState.OK: "ok  ", CheckState.WARNING: "WARN", CheckState.FAILED: "FAIL",
           CheckState.SKIPPED: "skip"}


def format_check(result: CheckResult) -> list[str]:
    lines = [f"[{SYMBOLS[result.state]}] {result.title}: {result.evidence}"]
    if result.fix and result.state in (CheckState.FAILED, CheckState.WARNING):
        lines.append(f"       fix: {result.fix}")
    return lines


def format_checks(results: list[CheckResult]) -> str:
    return "".join(line + "\n" for r in results for line in format_check(r))


def inspect_bundle(path: Path) -> tuple[dict[str, Any], list[str]]:
    """A support person's first look: what, when, which checks failed, recent history."""
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise InvalidInput(f"{path} is not a readable support bundle ({type(exc).__name__}).") \
            from None
    with zf:
        names = zf.namelist()

        def read(name: str) -> str | None:
            return zf.read(name).decode("utf-8", "replace") if name in names else None

        summary = json.loads(read("summary.json") or "{}")
        account = json.loads(read("account.json") or "null")
        checks = [CheckResult.model_validate(c) for c in json.loads(read("doctor.json") or "[]")]
        history = json.loads(read("history.json") or "[]")
        ibeam_log = read("ibeam.log") or ""
        problems = read("problems.txt")
    findings = recognise(ibeam_log)
    failed = [c for c in checks if c.state in (CheckState.FAILED, CheckState.WARNING)]
    data = {"summary": summary, "files": names,
            "account": account, "failed_checks": [c.model_dump(mode="json") for c in failed],
            "log_causes": [f.cause.value for f in findings],
            "history": history[-10:]}
    lines = [f"Support bundle {path.name} — made {summary.get('created', '?')} by ibdesk "
             f"{summary.get('ibdesk', '?')}",
             f"  OS {summary.get('os', '?')}, Python {summary.get('python', '?')}, "
             f"PySide6 {summary.get('libraries', {}).get('PySide6') or '?'}"
             + (" (SANDBOX)" if summary.get("sandbox") else "")]
    if account:
        lines.append(f"  Account {account.get('id')} ({account.get('environment')}): "
                     f"{account.get('do_server_status')} — droplet {account.get('do_droplet_name')}"
                     f" (id {account.get('do_droplet_id')}) in {account.get('do_region')}, "
                     f"size {account.get('do_size')}, address {account.get('do_ip_address')}")
    lines.append("")
    if failed:
        lines.append(f"Problems found by doctor ({len(failed)}):")
        for check in failed:
            lines += ["  " + line for line in format_check(check)]
    else:
        lines.append(f"Doctor: all {len(checks)} checks passed." if checks
                     else "Doctor: no results in this bundle.")
    if findings:
        lines += ["", "Recognised in IBeam's log:"]
        lines += [f"  - {f.meaning} ({f.count}×) → {f.fix}" for f in findings]
    if history:
        lines += ["", "Last status changes:"]
        lines += [f"  {e.get('at', '')[:19]}  {e.get('status', ''):<12} {e.get('reason', '')}"
                  for e in history[-8:]]
    if problems:
        lines += ["", "Could not collect:", *("  " + p for p in problems.splitlines())]
    lines += ["", f"Files: {', '.join(names)}"]
    return data, lines


__all__ = ["BundleBuilder", "BundleReport", "USERNAME_MASK", "format_check", "format_checks",
           "inspect_bundle"]
