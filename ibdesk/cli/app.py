"""The `ibdesk` command line's dispatch: the grammar is `parser`, the commands live in
`basic`, `accounts`, `watch` and `support`, and only the one a command needs is imported.

Conventions every command follows: exit code 0 on success and non-zero otherwise, with
one clear line on stderr; `--json` prints machine-readable output on stdout; progress
goes to stderr; secrets are read from standard input or a prompt, never from the command
line (which other users of the machine can see).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ibdesk import __version__
from ibdesk.cli.parser import COMMAND_MODULES, build_parser
from ibdesk.private_files import restrict_umask

if TYPE_CHECKING:
    from pathlib import Path

    from ibdesk.cli.output import Output
    from ibdesk.services.runtime import Runtime

# Even the output helpers load pydantic (through the error classes): the window path
# imports nothing of ibdesk but the app until its start-up snapshot is painted.

# The command modules (and the services, SSH and HTTP they load) are imported when a
# command runs: `ibdesk` with no command opens the window without paying for them.

log = logging.getLogger("ibdesk")


def command(name: str) -> Callable[[Runtime, argparse.Namespace, Output], int]:
    """The function that runs command `name`, from its module alone."""
    module = importlib.import_module(f"ibdesk.cli.{COMMAND_MODULES[name]}")
    handlers: dict[str, Callable[[Runtime, argparse.Namespace, Output], int]] = module.COMMANDS
    return handlers[name]


def _log_start(home: Path, name: str) -> None:
    from ibdesk import applog

    applog.install(home, console_level=logging.WARNING)
    log.info("ibdesk %s: %s", __version__, name)


def _run(rt: Runtime, name: str, args: argparse.Namespace, out: Output) -> int:
    _log_start(rt.settings.home, name)
    return command(name)(rt, args, out)


def _run_quickly(name: str, args: argparse.Namespace, out: Output) -> int | None:
    """The commands scripts call in loops, without opening the runtime: `accounts` on a
    local store (cli.accounts.accounts_quickly). None: take the usual path."""
    if name != "accounts" or getattr(args, "sandbox", False):
        return None
    from ibdesk.cli.accounts import accounts_quickly
    from ibdesk.paths import resolve_home

    code = accounts_quickly(args, out)
    if code is not None:
        _log_start(resolve_home(getattr(args, "home", None)), name)
    return code


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
    args = build_parser().parse_args(argv)  # --version, --help, usage errors end here
    from ibdesk.cli.output import EXIT_FAILED, Output
    from ibdesk.domain.errors import IbdeskError

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
        quick = _run_quickly(command, args, out)
        if quick is not None:
            return quick
        if command == "sandbox":
            logging.basicConfig(level=logging.WARNING,
                                format="%(levelname)s %(name)s: %(message)s")
            if args.sandbox_command == "install-ibeam":
                from ibdesk.cli.basic import cmd_sandbox_install_ibeam

                return cmd_sandbox_install_ibeam(args, out)
            from ibdesk.cli.basic import cmd_sandbox_serve

            return cmd_sandbox_serve(args, out)
        from ibdesk import launch
        from ibdesk.services.runtime import open_runtime

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
    except BrokenPipeError:
        return _reader_went_away()


def _reader_went_away() -> int:
    """`ibdesk accounts | head -1`: the reader closed the pipe. Quietly, as a shell tool
    ends on SIGPIPE (128 + 13), and with stdout pointed at nothing so that Python's own
    flush at exit does not print a second traceback."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 141


__all__ = ["build_parser", "command", "main", "window_request"]
