"""The `ibdesk` command line's grammar: every command and option, and nothing else.

Kept apart from the commands themselves so that parsing (and `--version`, `--help`, a
usage error) loads no service, SQL, SSH or HTTP code: only argparse and the domain's plain
enums (tests/test_cli_speed.py checks what it imports). Which module runs a command is
COMMAND_MODULES; `ibdesk.cli.app` imports only that one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, NoReturn

from ibdesk import __version__
from ibdesk.domain.cadence import CADENCE
from ibdesk.domain.enums import Environment, TwoFactorHandler

COMMAND_MODULES = {
    "info": "basic", "token": "basic",
    "connect": "accounts", "password": "accounts", "accounts": "accounts",
    "status": "accounts", "start": "accounts", "stop": "accounts", "restart": "accounts",
    "delete": "accounts", "tunnel": "accounts", "port": "accounts",
    "watch": "watch", "history": "watch", "reconcile": "watch", "orphans": "watch",
    "alerts": "watch",
    "doctor": "support", "logs": "support", "bundle": "support",
    "schedule": "money", "idle": "money", "budget": "money", "report": "money",
    "service": "service",
}
"""Command → the module of ibdesk.cli whose COMMANDS runs it (monitor-worker and sandbox
are run by ibdesk.cli.app itself)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        from ibdesk.cli.output import EXIT_USAGE

        self.print_usage(sys.stderr)
        print(f"ibdesk: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
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

    _account_commands(commands, common)
    _watch_commands(commands, common)
    _support_commands(commands, common)
    _money_commands(commands, common)
    worker = commands.add_parser("monitor-worker", parents=[common])  # the window's monitor
    worker.add_argument("--steady", type=float, default=CADENCE.steady)
    worker.add_argument("--error", type=float, default=CADENCE.error)
    worker.add_argument("--fast", type=float, default=CADENCE.fast)
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
    serve.add_argument("--droplet-rtt-ms", type=float, default=0.0, metavar="R",
                       help="round trip added in front of every droplet's SSH port")
    serve.add_argument("--health", choices=["http10", "keepalive"], default="http10",
                       help="IBeam's own HTTP/1.0 health server (default) or, to compare, "
                            "one that keeps connections alive")
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


def _account_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    connect = commands.add_parser(
        "connect", parents=[common], help="give an IBKR login its own IBeam server")
    connect.add_argument("--username", help="the IBKR username")
    connect.add_argument("--environment", choices=[e.value for e in Environment],
                         help="demo (IBKR's free demo login), paper or live")
    connect.add_argument("--allow-ssh-from-anywhere", action="store_true",
                         help="if this computer's public address cannot be found, let the "
                              "server's SSH admit every address (key-only logins) instead of "
                              "stopping")
    connect.add_argument("--password-stdin", action="store_true",
                         help="read the IBKR password from standard input (all of it, one "
                              "trailing newline removed); with --two-fa PYOTP the first line "
                              "is the TOTP secret and the rest the password")
    connect.add_argument("--two-fa", choices=[h.value for h in TwoFactorHandler],
                         help="IBeam's 2FA handler (required for live)")
    connect.add_argument("--region", help="DigitalOcean region (default: setting)")
    connect.add_argument("--size", help="droplet size (default: setting; smaller for demo)")
    connect.add_argument("--image", help="image id or slug (default: setting)")
    connect.add_argument("--wait", action="store_true",
                         help="wait until IBeam is logged in (else return once the server "
                              "is requested)")
    connect.add_argument("--local-port", type=int, metavar="PORT",
                         help="the account's port on this computer (default: the first "
                              "free from 5000 up)")
    connect.add_argument("--resume", metavar="ID",
                         help="carry an unfinished connect of account ID on")

    commands.add_parser("accounts", parents=[common], help="list the accounts")
    status = commands.add_parser("status", parents=[common],
                                 help="check one account now (server and gateway)")
    status.add_argument("account_id", metavar="ID")
    for name, text in (("start", "power the server on"),
                       ("stop", "shut the server down (DigitalOcean still bills it)"),
                       ("restart", "reboot the server"),
                       ("delete", "destroy the server and forget the account")):
        action = commands.add_parser(name, parents=[common], help=text)
        action.add_argument("account_id", metavar="ID")
        action.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        if name != "delete":
            action.add_argument("--wait", action="store_true",
                                help="also wait for the gateway to be logged in again")
    tunnel = commands.add_parser(
        "tunnel", parents=[common],
        help="forward the account's gateway to https://localhost:PORT until Ctrl+C")
    tunnel.add_argument("account_id", metavar="ID")
    port = commands.add_parser(
        "port", parents=[common],
        help="show the account's local port, or give it another (https://localhost:PORT)")
    port.add_argument("account_id", metavar="ID")
    port.add_argument("port", type=int, nargs="?", metavar="PORT")
    tunnel.add_argument("--local-port", type=int, default=None, metavar="PORT",
                        help="listen here instead of the account's own port (shown by "
                             "`ibdesk accounts`), for this tunnel only")


def _watch_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    watch = commands.add_parser("watch", parents=[common],
                                help="stream status changes until Ctrl+C (reconciles first)")
    watch.add_argument("--interval", type=float, default=CADENCE.fast, metavar="S",
                       help="seconds between looks at accounts in transition (default 5)")
    history = commands.add_parser("history", parents=[common],
                                  help="every status change of one account")
    history.add_argument("account_id", metavar="ID")
    history.add_argument("--limit", type=int, default=None, metavar="N")
    commands.add_parser("reconcile", parents=[common],
                        help="finish or undo what a crash interrupted; list orphans")
    orphans = commands.add_parser(
        "orphans", parents=[common],
        help="ibdesk droplets no account here records, with their cost")
    orphans.add_argument("droplet_ids", metavar="DROPLET_ID", nargs="*", type=int,
                         help="with --delete: exactly these (needed for another "
                              "installation's servers)")
    orphans.add_argument("--delete", action="store_true",
                         help="destroy this installation's orphans (or the DROPLET_IDs named)")
    orphans.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    alerts = commands.add_parser(
        "alerts", parents=[common],
        help="where ibdesk sends alerts (Apprise URLs: e-mail, Slack, ntfy, webhooks…)")
    alert_cmds = alerts.add_subparsers(dest="alerts_command", metavar="ACTION", required=True,
                                       parser_class=_Parser)
    add = alert_cmds.add_parser(
        "add", parents=[common],
        help="add an Apprise URL, read from standard input (it holds credentials)")
    add.add_argument("--stdin", action="store_true", required=True,
                     help="read the URL from standard input (never the command line)")
    alert_cmds.add_parser("list", parents=[common],
                          help="the targets, numbered (scheme and host only)")
    remove = alert_cmds.add_parser("remove", parents=[common], help="forget target N")
    remove.add_argument("number", type=int, metavar="N")
    alert_cmds.add_parser("test", parents=[common], help="send a test alert to every target")
    password = commands.add_parser(
        "password", parents=[common],
        help="give an account a new IBKR password (after IBKR refused the old one)")
    password.add_argument("account_id", metavar="ID")
    password.add_argument("--password-stdin", action="store_true", required=True,
                          help="read the new password from standard input")


def _money_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    schedule = commands.add_parser(
        "schedule", parents=[common],
        help="when an account's server is up (always, or trading hours), and both modes' "
             "monthly cost; without options: show it")
    schedule.add_argument("account_id", metavar="ID")
    which = schedule.add_mutually_exclusive_group()
    which.add_argument("--always-on", action="store_true", help="up all the time (default)")
    which.add_argument("--trading-hours", action="store_true",
                       help="up on trading days only (exchange holidays skipped)")
    schedule.add_argument("--days", metavar="DAYS", help="trading days (default mon-fri)")
    schedule.add_argument("--hours", metavar="HH:MM-HH:MM",
                          help="the session, local to --tz (default 09:30-16:00)")
    schedule.add_argument("--tz", metavar="ZONE",
                          help="the exchange's time zone (default America/New_York)")
    schedule.add_argument("--lead", metavar="DURATION",
                          help="bring the server up this long before the open (default 45m)")
    schedule.add_argument("--calendar", metavar="EXCHANGE",
                          help="whose holidays are skipped (default NYSE; e.g. XLON)")
    schedule.add_argument("--mode", choices=["power-off", "rebuild"],
                          help="out of hours: power off (billed in full) or rebuild "
                               "(destroyed, created again before the open)")
    idle = commands.add_parser(
        "idle", parents=[common],
        help="stop (or destroy, by the schedule's mode) a server whose tunnel carried "
             "nothing for a while")
    idle.add_argument("account_id", metavar="ID")
    idle_how = idle.add_mutually_exclusive_group(required=True)
    idle_how.add_argument("--after", metavar="DURATION", help="e.g. 8h, 90m")
    idle_how.add_argument("--off", action="store_true", help="no idle shutdown")
    budget = commands.add_parser(
        "budget", parents=[common],
        help="a monthly budget in USD (warned when on course to pass it, alerted when "
             "passed); without a value: this month's figures")
    budget.add_argument("usd", metavar="USD", nargs="?")
    budget.add_argument("--off", action="store_true", help="no budget")
    report = commands.add_parser(
        "report", parents=[common],
        help="uptime over scheduled time, outages, refused logins and cost, per account")
    report.add_argument("--since", default="30d", metavar="DURATION",
                        help="how far back (default 30d; e.g. 7d, 12h)")
    report.add_argument("--csv", action="store_true", help="CSV on stdout, a row per outage")
    service = commands.add_parser(
        "service", parents=[common],
        help="run ibdesk's monitor and schedules without the window (a systemd user unit, "
             "a launchd agent or a scheduled task)")
    service_cmds = service.add_subparsers(dest="service_command", metavar="ACTION",
                                          required=True, parser_class=_Parser)
    service_cmds.add_parser("install", parents=[common], help="install and start it")
    service_cmds.add_parser("uninstall", parents=[common], help="stop and remove it")
    service_cmds.add_parser("status", parents=[common], help="is it installed and running")


def _support_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    doctor = commands.add_parser(
        "doctor", parents=[common],
        help="check the token, firewall and (with ID) the server, SSH, IBeam and the gateway; "
             "exit 1 when a check failed")
    doctor.add_argument("account_id", metavar="ID", nargs="?")
    doctor.add_argument("--fix", action="store_true",
                        help="apply the fixes ibdesk can make (firewall address, restart IBeam, "
                             "start the server) without asking")
    logs = commands.add_parser("logs", parents=[common],
                               help="IBeam's output and log files from the account's server")
    logs.add_argument("account_id", metavar="ID")
    logs.add_argument("--lines", "-n", type=int, default=100, metavar="N",
                      help="how many of the last lines (default 100, at most 5000)")
    logs.add_argument("--follow", "-f", action="store_true",
                      help="keep printing new lines until Ctrl+C")
    logs.add_argument("--files", action="store_true",
                      help="list IBeam's log files and print the end of the newest instead")
    bundle = commands.add_parser(
        "bundle", parents=[common],
        help="write a redacted support bundle (zip), or --inspect one")
    bundle.add_argument("account_id", metavar="ID", nargs="?")
    bundle.add_argument("-o", "--output", metavar="FILE.zip", type=Path)
    bundle.add_argument("--include-username", action="store_true",
                        help="keep the IBKR username in the bundle (hidden by default)")
    bundle.add_argument("--inspect", metavar="FILE.zip", type=Path,
                        help="print a readable summary of a bundle")


__all__ = ["COMMAND_MODULES", "build_parser"]
