"""`ibdesk doctor | logs | bundle`: the support tools.

doctor prints each check the moment it finishes and exits 1 when any failed; with a
terminal it offers the fixes ibdesk can apply itself (`--fix` applies them without
asking). logs reads IBeam's output and log files from the droplet. bundle writes the
redacted support zip, and `bundle --inspect` reads one back for the support person.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from ibdesk.cli.output import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Output
from ibdesk.domain.diagnosis import CheckResult, CheckState, FixAction
from ibdesk.domain.errors import IbdeskError
from ibdesk.services.runtime import Runtime


# ---------------------------------------------------------------------------- doctor
def cmd_doctor(rt: Runtime, args: argparse.Namespace, out: Output) -> int:
    from ibdesk.services.support.bundle import format_check
    from ibdesk.services.support.doctor import Doctor

    doctor = Doctor(rt)
    results: list[CheckResult] = []

    async def run() -> None:
        async for result in doctor.run(args.account_id):
            results.append(result)
            if not out.as_json:
                for line in format_check(result):
                    print(line, file=out.out, flush=True)

    asyncio.run(run())
    fixes = _offer_fixes(doctor, results, args, out)
    failed = [r for r in results if r.state is CheckState.FAILED]
    data = {"account_id": args.account_id, "ok": not failed,
            "checks": [r.model_dump(mode="json") for r in results],
            "fixes_applied": fixes}
    if out.as_json:
        print(json.dumps(data, sort_keys=True), file=out.out)
    else:
        warned = sum(r.state is CheckState.WARNING for r in results)
        print(f"\n{len(results)} checks: {len(failed)} failed, {warned} warnings."
              + (" Run `ibdesk doctor` again after the fixes." if fixes else ""), file=out.out)
        manual = [r for r in failed if r.action is FixAction.NEW_PASSWORD]
        if manual and args.account_id:
            print(f"To give IBeam a new password: ibdesk password {args.account_id} "
                  "--password-stdin", file=out.out)
    return EXIT_FAILED if failed else EXIT_OK


def _offer_fixes(doctor: Any, results: list[CheckResult], args: argparse.Namespace,
                 out: Output) -> list[str]:
    wanted: list[FixAction] = []
    for result in results:
        action = result.action
        if action is not None and action.automatic and action not in wanted and \
                result.state in (CheckState.FAILED, CheckState.WARNING):
            wanted.append(action)
    if not wanted:
        return []
    interactive = sys.stdin.isatty() and not out.as_json
    done: list[str] = []
    for action in wanted:
        label = action.sentence
        if not args.fix:
            if not interactive:
                out.progress(f"Fix available: {label.lower()} (run with --fix to apply).")
                continue
            if input(f"{label}? [y/N] ").strip().lower() not in ("y", "yes"):
                continue
        try:
            said = asyncio.run(doctor.apply(action, args.account_id))
        except IbdeskError as exc:
            out.progress(f"{label}: failed — {exc.user_message}")
            continue
        out.progress(said)
        done.append(action.value)
    return done


# ---------------------------------------------------------------------------- logs
def cmd_logs(rt: Runtime, args: argparse.Namespace, out: Output) -> int:
    from ibdesk.services.support import ibeam_logs

    lines = max(0, min(args.lines, 5000))
    if args.files:
        return _log_files(rt, args, out)
    if args.follow:
        async def follow() -> None:
            async for line in ibeam_logs.follow(rt, args.account_id, lines):
                if out.as_json:
                    print(json.dumps({"line": line}), file=out.out, flush=True)
                else:
                    print(line, file=out.out, flush=True)

        try:
            asyncio.run(follow())
        except KeyboardInterrupt:
            pass
        return EXIT_OK
    text = asyncio.run(ibeam_logs.container_log(rt, args.account_id, lines))
    out.result({"account_id": args.account_id, "lines": text}, text)
    return EXIT_OK


def _log_files(rt: Runtime, args: argparse.Namespace, out: Output) -> int:
    from ibdesk.services.support import ibeam_logs

    files, name, text = asyncio.run(ibeam_logs.log_files(rt, args.account_id))
    tail = text.splitlines()[-max(args.lines, 0):] if args.lines else []
    data = {"files": [{"name": f.name, "size": f.size, "path": f.path} for f in files],
            "newest": name, "lines": tail}
    listing = [f"{f.size:>10,}  {f.path}" for f in files] or ["(no IBeam log files yet)"]
    out.result(data, [*listing, *([""] + [f"--- end of {name} ---"] + tail if name else [])])
    return EXIT_OK


# ---------------------------------------------------------------------------- bundle
def cmd_bundle(rt: Runtime, args: argparse.Namespace, out: Output) -> int:
    from ibdesk.services.support.bundle import BundleBuilder, inspect_bundle

    if args.inspect is not None:
        data, lines = inspect_bundle(args.inspect)
        out.result(data, lines)
        return EXIT_OK
    if args.output is None:
        out.error("say where to write the bundle: -o FILE.zip (or --inspect FILE.zip)")
        return EXIT_USAGE
    out.progress("Collecting: settings, account, history, doctor checks, logs …")
    report = asyncio.run(BundleBuilder(rt, include_username=args.include_username)
                         .build(args.account_id, args.output))
    for problem in report.problems:
        out.progress(f"note: {problem}")
    out.result({"path": str(report.path), "files": report.files, "problems": report.problems},
               [f"Wrote {report.path} ({', '.join(report.files)}). Secrets are redacted"
                + ("." if args.include_username else "; the IBKR username is hidden."),
                f"Check it with: ibdesk bundle --inspect {report.path}"])
    return EXIT_OK


COMMANDS = {"doctor": cmd_doctor, "logs": cmd_logs, "bundle": cmd_bundle}

__all__ = ["COMMANDS"]
