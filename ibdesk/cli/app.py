"""The `ibdesk` command line: parser and dispatch. Commands live in `basic` and `accounts`.

Conventions every command follows: exit code 0 on success and non-zero otherwise, with
one clear line on stderr; `--json` prints machine-readable output on stdout; progress
goes to stderr; secrets are read from standard input or a prompt, never from the command
line (which other users of the machine can see).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from typing import TYPE_CHECKING

from ibdesk import __version__
from ibdesk.private_files import restrict_umask

if TYPE_CHECKING:
    from ibdesk.cli.output import Output
    from ibdesk.services.runtime import Runtime

# Even the output helpers load pydantic (through the error classes): the window path
# imports nothing of ibdesk but the app until its start-up snapshot is painted.

# The command modules (and the services, SSH and HTTP they load) are imported when a
# command runs: `ibdesk` with no command opens the window without paying for them.

log = logging.getLogger("ibdesk")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        from ibdesk.cli.output import EXIT_USAGE

        self.print_usage(sys.stderr)
        print(f"ibdesk: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    from ibdesk.cli import accounts, support, watch

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

    accounts.add_parsers(commands, common, _Parser)
    watch.add_parsers(commands, common)
    support.add_parsers(commands, common)
    worker = commands.add_parser("monitor-worker", parents=[common])  # the window's monitor
    worker.add_argument("--steady", type=float, default=60.0)
    worker.add_argument("--error", type=float, default=30.0)
    worker.add_argument("--fast", type=float, default=5.0)
    worker.add_argument("--channel", metavar="HOST:PORT",
                        help="send results to this local socket (after the one-time token "
                             "read first from stdin) instead of stdout")

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
    serve.add_argument("--first-boot-seconds", type=float, default=3.0, metavar="S",
                       help="how long cloud-init's first boot takes (default 3)")
    serve.add_argument("--maintenance-seconds", type=float, default=60.0, metavar="S",
                       help="IBeam's maintenance interval (default 60, IBeam's own)")
    serve.add_argument("--real-ibeam", action="store_true",
                       help="run IBeam 0.5.12's own code with headless Chromium as each "
                            "droplet's container (needs root, chromium, chromium-driver, "
                            "Xvfb; IBeam's venv is made on first use)")
    sandbox_cmds.add_parser(
        "install-ibeam", parents=[common],
        help="make the venv with ibeam==0.5.12 that --real-ibeam runs (once)")
    return parser


def commands() -> dict[str, Callable[[Runtime, argparse.Namespace, Output], int]]:
    from ibdesk.cli import accounts, basic, support, watch

    return {"info": basic.cmd_info, "token": basic.cmd_token, **accounts.COMMANDS,
            **watch.COMMANDS, **support.COMMANDS}


def _run(rt: Runtime, command: str, args: argparse.Namespace, out: Output) -> int:
    from ibdesk import applog

    applog.install(rt.settings.home, console_level=logging.WARNING)
    log.info("ibdesk %s: %s", __version__, command)
    return commands()[command](rt, args, out)


def window_request(argv: Sequence[str]) -> tuple[str | None, bool] | None:
    """(home, sandbox) when the command line asks for the window — no command, only
    --home and --sandbox — else None (then the full parser decides)."""
    home: str | None = None
    sandbox = False
    items = list(argv)
    while items:
        item = items.pop(0)
        if item == "--sandbox":
            sandbox = True
        elif item == "--home" and items:
            home = items.pop(0)
        elif item.startswith("--home="):
            home = item.partition("=")[2]
        else:
            return None
    return home, sandbox


def _open_window(home: str | None, sandbox: bool, out: Output | None = None) -> int:
    from ibdesk.app import run_window

    try:
        return run_window(home, sandbox=sandbox)
    except Exception as exc:
        from ibdesk.cli.output import EXIT_FAILED, Output
        from ibdesk.domain.errors import IbdeskError

        if not isinstance(exc, IbdeskError):
            raise
        (out or Output(False)).error(exc.user_message)
        return EXIT_FAILED


def ignore_fatal_signals() -> None:
    """What CPython does at start-up and an embedded Python does not: ignore SIGPIPE and
    SIGXFSZ, so that a write to a closed socket or pipe raises BrokenPipeError (handled
    where it can happen) instead of killing the process. Briefcase's stub starts Python
    with an isolated configuration that installs no signal handlers: the packaged
    `ibdesk --sandbox connect --wait` died with exit 141 in 3 of 6 runs."""
    import signal

    for name in ("SIGPIPE", "SIGXFSZ"):
        number = getattr(signal, name, None)
        if number is not None:
            signal.signal(number, signal.SIG_IGN)


def main(argv: Sequence[str] | None = None) -> int:
    ignore_fatal_signals()
    argv = list(sys.argv[1:] if argv is None else argv)
    wanted = window_request(argv)
    if wanted is not None:
        from ibdesk.app import can_show_window

        if can_show_window():  # the quick path: no command modules loaded at all
            if not wanted[1]:
                restrict_umask()
            return _open_window(*wanted)
    from ibdesk import launch
    from ibdesk.cli import basic
    from ibdesk.cli.output import EXIT_FAILED, Output
    from ibdesk.domain.errors import IbdeskError
    from ibdesk.services.runtime import open_runtime

    parser = build_parser()
    args = parser.parse_args(argv)
    out = Output(getattr(args, "json", False))
    command = args.command
    if command != "sandbox" and not getattr(args, "sandbox", False):
        restrict_umask()  # sandbox mode's simulated droplets need the usual umask
    if command is None:
        from ibdesk.app import can_show_window

        if can_show_window():
            return _open_window(getattr(args, "home", None), getattr(args, "sandbox", False),
                                out)
        out.progress("No display here, so no window: this is `ibdesk info` instead. On a "
                     "desktop, `ibdesk` opens the window.")
        command = "info"
    try:
        if command == "sandbox":
            logging.basicConfig(level=logging.WARNING,
                                format="%(levelname)s %(name)s: %(message)s")
            if args.sandbox_command == "install-ibeam":
                return basic.cmd_sandbox_install_ibeam(args, out)
            return basic.cmd_sandbox_serve(args, out)
        if getattr(args, "sandbox", False):
            with launch.sandbox_runtime(getattr(args, "home", None)) as rt:
                return _run(rt, command, args, out)
        rt = open_runtime(getattr(args, "home", None))
        try:
            if command == "monitor-worker":
                from ibdesk.cli.monitor_worker import run_worker

                return run_worker(rt, steady=args.steady, error=args.error, fast=args.fast,
                                  channel=args.channel)
            return _run(rt, command, args, out)
        finally:
            rt.close()
    except IbdeskError as exc:
        out.error(exc.user_message)
        return EXIT_FAILED
    except KeyboardInterrupt:
        out.error("interrupted")
        return 130


__all__ = ["build_parser", "commands", "main", "window_request"]
