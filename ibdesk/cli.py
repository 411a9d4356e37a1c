"""`ibdesk` on the command line: the same services as the window, for terminals and scripts.

Conventions every command follows: exit code 0 on success and non-zero otherwise, with
one clear line on stderr; `--json` prints machine-readable output on stdout; secrets are
read from standard input or a prompt, never from the command line (which other users
of the machine can see).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import logging
import platform
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TextIO

from ibdesk import __version__
from ibdesk.domain.errors import IbdeskError
from ibdesk.services.runtime import Runtime, open_runtime
from ibdesk.services.token import TokenService

log = logging.getLogger("ibdesk")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"ibdesk: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", metavar="DIR", default=argparse.SUPPRESS,
                        help="data folder (default: IBDESK_HOME or the user data folder)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print machine-readable JSON on stdout")
    common.add_argument("--sandbox", action="store_true", default=argparse.SUPPRESS,
                        help="run against the local sandbox (simulated DigitalOcean and "
                             "IBeam, its own data folder; nothing costs money)")

    parser = _Parser(prog="ibdesk", parents=[common],
                     description="An always-on IBeam gateway per IBKR login, on DigitalOcean.",
                     epilog="Exit codes: 0 done; 1 failed (one line on stderr says why); "
                            "2 the command line was wrong; 130 interrupted.")
    parser.add_argument("--version", action="version", version=f"ibdesk {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    commands.add_parser("info", parents=[common],
                        help="where ibdesk keeps its data, and what is set up (default)")

    token = commands.add_parser("token", parents=[common], help="the DigitalOcean API token")
    token_cmds = token.add_subparsers(dest="token_command", metavar="ACTION", required=True,
                                      parser_class=_Parser)
    token_set = token_cmds.add_parser(
        "set", parents=[common], help="validate a token and keep it in the system keyring")
    token_set.add_argument("--stdin", action="store_true",
                           help="read the token from standard input (for scripts)")
    token_cmds.add_parser("check", parents=[common],
                          help="check the stored token with DigitalOcean")
    token_cmds.add_parser("clear", parents=[common], help="remove the stored token")

    sandbox = commands.add_parser("sandbox", parents=[common],
                                  help="the local simulator of DigitalOcean and IBeam")
    sandbox_cmds = sandbox.add_subparsers(dest="sandbox_command", metavar="ACTION",
                                          required=True, parser_class=_Parser)
    serve = sandbox_cmds.add_parser(
        "serve", parents=[common],
        help="run the sandbox in the foreground and print its API URL and token")
    serve.add_argument("--port", type=int, default=0, help="API port (default: a free one)")
    serve.add_argument("--boot-seconds", type=float, default=5.0, metavar="S",
                       help="how long a droplet stays `new` (default 5)")
    serve.add_argument("--action-seconds", type=float, default=2.0, metavar="S",
                       help="how long a power action runs (default 2)")
    serve.add_argument("--login-seconds", type=float, default=3.0, metavar="S",
                       help="how long IBeam takes to log in (default 3)")
    serve.add_argument("--latency-ms", type=float, default=0.0, metavar="L",
                       help="added to every API request")
    serve.add_argument("--error-rate", type=float, default=0.0, metavar="R",
                       help="share of API requests answered with a 500 (0-1)")
    serve.add_argument("--timeout-rate", type=float, default=0.0, metavar="R",
                       help="share of API requests that never answer (0-1)")
    serve.add_argument("--droplet-limit", type=int, default=25, metavar="N")
    serve.add_argument("--ibkr-users", metavar="FILE",
                       help='JSON {"users": [{"username", "password", "totp_secret"?}]}')
    serve.add_argument("--state", metavar="FILE",
                       help="keep droplets in this JSON file across restarts")
    serve.add_argument("--with-seed-image", action="store_true",
                       help="offer the seed's private IBeam snapshot 182556282")
    return parser


class Output:
    """Human lines or one JSON document, on stdout; errors on stderr."""

    def __init__(self, as_json: bool, out: TextIO | None = None, err: TextIO | None = None):
        self.as_json = as_json
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def result(self, data: dict[str, Any], lines: Sequence[str]) -> None:
        if self.as_json:
            print(json.dumps(data, default=str, sort_keys=True), file=self.out)
        else:
            for line in lines:
                print(line, file=self.out)

    def error(self, message: str) -> None:
        if self.as_json:
            print(json.dumps({"error": message}), file=self.out)
        print(f"ibdesk: {message}", file=self.err)


def _read_secret(from_stdin: bool, prompt: str) -> str:
    if from_stdin:
        return sys.stdin.readline().strip()
    if not sys.stdin.isatty():
        raise IbdeskError("No terminal to ask on: pass --stdin and pipe the token in.")
    return getpass.getpass(prompt).strip()


# ---------------------------------------------------------------------------- commands
def cmd_info(rt: Runtime, args: argparse.Namespace, out: Output) -> int:
    from ibdesk.store import current_revision, head_revision

    settings = rt.settings
    try:
        backend = rt.secrets.check()
        keyring_problem = None
    except IbdeskError as exc:
        backend, keyring_problem = rt.secrets.backend_name, exc.user_message
    token = None if keyring_problem else TokenService(rt).stored()
    repo = rt.repository
    accounts = repo.list_accounts()
    data = {
        "version": __version__,
        "python": platform.python_version(),
        "home": str(settings.home),
        "settings_file": str(settings.settings_file),
        "database": settings.effective_database_url.removeprefix("sqlite:///"),
        "schema": current_revision(repo.engine),
        "schema_head": head_revision(),
        "keyring": backend,
        "keyring_problem": keyring_problem,
        "token_stored": bool(token),
        "api_url": settings.do_api_url,
        "defaults": {"region": settings.region, "size": settings.size,
                     "image": settings.image_id},
        "accounts": [{"id": a.id, "username": a.username, "environment": a.environment.value,
                      "status": a.do_server_status.value, "droplet": a.do_droplet_name}
                     for a in accounts],
    }
    if rt.sandbox is not None:
        data["sandbox"] = {"api_url": rt.sandbox.api_url,
                           "ibkr_username": rt.sandbox.ibkr_username, "note": rt.sandbox.note}
    lines = []
    if rt.sandbox is not None:
        lines += [
            "SANDBOX: a simulated DigitalOcean and IBeam on this machine; nothing here is "
            "real or costs money.",
            f"  IBKR demo login  {rt.sandbox.ibkr_username} / {rt.sandbox.ibkr_password}",
        ] + ([f"  note             {rt.sandbox.note}"] if rt.sandbox.note else []) + [""]
    lines += [
        f"ibdesk {__version__} (Python {data['python']})",
        f"  data folder   {data['home']}",
        f"  database      {data['database']} (schema {data['schema']})",
        f"  keyring       {backend}" + (f"  PROBLEM: {keyring_problem}" if keyring_problem else ""),
        f"  API           {settings.do_api_url}",
        f"  defaults      region {settings.region}, size {settings.size}, "
        f"image {settings.image_id}",
        f"  token         {'stored in the keyring' if token else 'not set'}",
        f"  accounts      {len(accounts)}",
    ]
    lines += [f"    {a['id']:<18} {a['environment']:<6} {a['status']:<13} {a['droplet'] or '-'}"
              for a in data["accounts"]]
    if not token and rt.sandbox is None:
        lines += ["", "Next: create a DigitalOcean API token (read + write) and run",
                  "  ibdesk token set"]
    out.result(data, lines)
    return EXIT_OK


def _account_lines(prefix: str, account: Any) -> list[str]:
    return [f"{prefix} {account.email}",
            f"  droplet limit  {account.droplet_limit}",
            f"  account status {account.status}"]


def cmd_token(rt: Runtime, args: argparse.Namespace, out: Output) -> int:
    tokens = TokenService(rt)
    if args.token_command == "clear":
        removed = tokens.clear()
        out.result({"removed": removed},
                   ["Token removed from the keyring." if removed else "No token was stored."])
        return EXIT_OK
    if args.token_command == "set":
        secret = _read_secret(args.stdin, "DigitalOcean API token: ")
        account = asyncio.run(tokens.set(secret))
        prefix = "Token stored. DigitalOcean account:"
    else:
        account = asyncio.run(tokens.check())
        prefix = "Token works. DigitalOcean account:"
    out.result({"email": account.email, "droplet_limit": account.droplet_limit,
                "status": account.status, "uuid": account.uuid},
               _account_lines(prefix, account))
    return EXIT_OK


def cmd_sandbox_serve(args: argparse.Namespace, out: Output) -> int:
    from pathlib import Path

    from ibdesk.sandbox import SandboxOptions
    from ibdesk.sandbox.runner import serve

    for name in ("error_rate", "timeout_rate"):
        if not 0 <= getattr(args, name) <= 1:
            raise IbdeskError(f"--{name.replace('_', '-')} must be between 0 and 1.")
    options = SandboxOptions(
        port=args.port, boot_seconds=args.boot_seconds, action_seconds=args.action_seconds,
        login_seconds=args.login_seconds, latency_ms=args.latency_ms,
        error_rate=args.error_rate, timeout_rate=args.timeout_rate,
        droplet_limit=args.droplet_limit, with_seed_image=args.with_seed_image,
        ibkr_users=Path(args.ibkr_users) if args.ibkr_users else None,
        state=Path(args.state).resolve() if args.state else None)
    if options.ibkr_users is not None and not options.ibkr_users.is_file():
        raise IbdeskError(f"The IBKR users file {options.ibkr_users} does not exist.")
    try:
        asyncio.run(serve(options, as_json=out.as_json, out=out.out))
    except (ValueError, KeyError, OSError) as exc:
        raise IbdeskError(f"The sandbox could not start: {exc}") from None
    return EXIT_OK


@contextlib.contextmanager
def sandbox_runtime(home: str | None) -> Iterator[Runtime]:
    """A runtime wired to an in-process sandbox with its own data folder and keyring
    service, so that sandbox accounts never mix with real ones."""
    from pathlib import Path

    from ibdesk.config import resolve_home
    from ibdesk.domain.errors import KeyringUnavailable
    from ibdesk.sandbox import SandboxOptions
    from ibdesk.sandbox.runner import SandboxThread
    from ibdesk.secrets import DO_TOKEN, MemoryKeyring, SecretStore
    from ibdesk.services.runtime import SandboxInfo

    folder = Path(home).expanduser().resolve() if home else resolve_home() / "sandbox"
    folder.mkdir(parents=True, exist_ok=True)
    with SandboxThread(SandboxOptions(state=folder / "sandbox-world.json")) as sandbox:
        rt = open_runtime(folder, do_api_url=sandbox.api_url, api_key=None,
                          sandbox_ssh_map_url=sandbox.ssh_map_url,
                          public_ip_url=sandbox.public_ip_url,
                          keyring_service="ibdesk-sandbox")
        note = None
        try:
            rt.secrets.check()
        except KeyringUnavailable:
            rt.secrets = SecretStore(rt.settings.keyring_service, backend=MemoryKeyring())
            note = ("No system keyring here: the sandbox keeps its secrets in memory for "
                    "this run only.")
        rt.secrets.set(DO_TOKEN, sandbox.token)
        demo = sandbox.users.users[0]
        rt.sandbox = SandboxInfo(sandbox.api_url, demo.username, demo.password, note)
        try:
            yield rt
        finally:
            rt.close()


COMMANDS: dict[str, Callable[[Runtime, argparse.Namespace, Output], int]] = {
    "info": cmd_info,
    "token": cmd_token,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    out = Output(getattr(args, "json", False))
    command = args.command or "info"
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        if command == "sandbox":
            return cmd_sandbox_serve(args, out)
        if getattr(args, "sandbox", False):
            with sandbox_runtime(getattr(args, "home", None)) as rt:
                return COMMANDS[command](rt, args, out)
        rt = open_runtime(getattr(args, "home", None))
        try:
            return COMMANDS[command](rt, args, out)
        finally:
            rt.close()
    except IbdeskError as exc:
        out.error(exc.user_message)
        return EXIT_FAILED
    except KeyboardInterrupt:
        out.error("interrupted")
        return 130


__all__ = ["build_parser", "main"]
