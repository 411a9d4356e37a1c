"""`ibdesk connect | password | accounts | status | start | stop | restart | delete |
tunnel | port`: the commands about one account and its server.

JSON keeps the seed service's names so that scripts written for its HTTP API read it
unchanged: `connect` prints {account_id, service_id (the droplet id), status, message,
environment}; each account carries account_id, environment, status and the do_* fields.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from ibdesk.cli.output import EXIT_FAILED, EXIT_OK, Output, confirm, read_stdin
from ibdesk.domain.actions import ServerAction
from ibdesk.domain.enums import Environment, ServerStatus, TwoFactorHandler
from ibdesk.domain.errors import IbdeskError

# Each command imports the services it runs (SSH, HTTP, the status rules) and asyncio
# itself: `ibdesk accounts`, which scripts call in loops, needs none of them.
if TYPE_CHECKING:
    from ibdesk.domain.models import Account
    from ibdesk.services.connect.provisioner import Progress, Provisioner
    from ibdesk.services.control.tunnel import TunnelEvent
    from ibdesk.services.runtime import Runtime
    from ibdesk.services.watch.status import StatusReport


class Listed(Protocol):
    """What the listing and the JSON of an account read: an `Account`, or the fast
    path's `store.listing.AccountLine`."""

    @property
    def id(self) -> str: ...
    @property
    def username(self) -> str: ...
    @property
    def environment(self) -> Environment: ...
    @property
    def do_server_status(self) -> ServerStatus: ...
    @property
    def do_droplet_id(self) -> int | None: ...
    @property
    def do_droplet_name(self) -> str | None: ...
    @property
    def do_ip_address(self) -> str | None: ...
    @property
    def do_region(self) -> str | None: ...
    @property
    def do_last_status_check(self) -> datetime | None: ...
    @property
    def local_port(self) -> int | None: ...


def _account_json(account: Listed) -> dict[str, Any]:
    return {
        "account_id": account.id, "environment": account.environment.value,
        "username": account.username, "status": account.do_server_status.value,
        "do_droplet_id": account.do_droplet_id, "do_droplet_name": account.do_droplet_name,
        "do_server_status": account.do_server_status.value,
        "do_ip_address": account.do_ip_address, "do_region": account.do_region,
        "do_last_status_check": account.do_last_status_check.isoformat()
        if account.do_last_status_check else None,
        "local_port": account.local_port,
    }


def _read_connect_secrets(args: argparse.Namespace) -> tuple[str, str | None]:
    if not args.password_stdin:
        raise IbdeskError("Pass --password-stdin and pipe the password in: ibdesk never "
                          "takes a password on the command line.")
    data = read_stdin()
    totp = None
    if args.two_fa == TwoFactorHandler.PYOTP.value:
        totp, _, data = data.partition("\n")
        totp = totp.strip()
    return _without_line_end(data), totp


def _without_line_end(data: str) -> str:
    """The password as piped in: one line end taken off (`echo` adds it), nothing else
    (a password may begin or end with spaces)."""
    return data[:-2] if data.endswith("\r\n") else data[:-1] if data.endswith("\n") else data


def _run_connect(provisioner: Provisioner, args: argparse.Namespace) -> Account:
    import asyncio
    if args.resume:
        new_password = _read_connect_secrets(args)[0] if args.password_stdin else None
        return asyncio.run(provisioner.resume(args.resume, new_password=new_password))
    if not args.username or not args.environment:
        raise IbdeskError("connect needs --username and --environment (or --resume ID).")
    from ibdesk.services.connect.provisioner import ConnectRequest

    password, totp = _read_connect_secrets(args)
    request = ConnectRequest(
        username=args.username, password=password,
        environment=Environment(args.environment), region=args.region, size=args.size,
        image=args.image, two_fa_handler=TwoFactorHandler(args.two_fa) if args.two_fa
        else None, totp_secret=totp,
        allow_ssh_from_anywhere=bool(getattr(args, "allow_ssh_from_anywhere", False)),
        local_port=getattr(args, "local_port", None))
    return asyncio.run(provisioner.connect(request, wait=args.wait))


def cmd_connect(rt: Runtime, args: argparse.Namespace, out: Output) -> int:
    from ibdesk.services.connect.provisioner import Provisioner

    def show(event: Progress) -> None:
        mark = {"done": "✓", "warning": "!", "failed": "✗", "waiting": "…"}.get(event.state, " ")
        if event.state != "started":
            out.progress(f"[{event.index}/{event.total}] {mark} {event.message}")

    provisioner = Provisioner(rt, on_progress=show)
    try:
        account = _run_connect(provisioner, args)
    except IbdeskError as exc:
        if provisioner.account_id is not None:  # something was recorded: say what to do
            exc.user_message += (
                f" Retry with `ibdesk connect --resume {provisioner.account_id} --wait` (add "
                "--password-stdin to enter the password again), or remove what was created "
                f"with `ibdesk delete {provisioner.account_id}`.")
        raise
    running = account.do_server_status is ServerStatus.RUNNING
    message = ("The gateway is logged in." if running else
               f"The server is being set up; `ibdesk connect --resume {account.id} --wait` "
               "follows it to the end.")
    out.result({"account_id": account.id, "service_id": account.do_droplet_id,
                "status": account.do_server_status.value, "message": message,
                "environment": account.environment.value, "warnings": provisioner.warnings},
               [f"{account.id}: {account.do_server_status.value}. {message}"])
    return EXIT_OK


def cmd_accounts(rt: Runtime, args: argparse.Namespace, out: Output) -> int:
    return _print_accounts(rt.repository.list_accounts(), out)


def accounts_quickly(args: argparse.Namespace, out: Output) -> int | None:
    """`ibdesk accounts` without the repository (SQLAlchemy, Alembic) or the runtime
    (keyring): the settings are loaded and checked as on every path, then the store is
    read with sqlite3 (`store.listing`). None when that read cannot vouch for the store
    (none yet, a schema to migrate, another database URL): then the usual path runs."""
    from ibdesk.config import load_settings
    from ibdesk.private_files import tighten
    from ibdesk.store.listing import read_accounts

    settings = load_settings(getattr(args, "home", None))
    if settings.database_url is not None:
        return None
    accounts = read_accounts(settings.database_path)
    if accounts is None:
        return None
    tighten(settings.home)  # as open_runtime does on every start
    return _print_accounts(accounts, out)


def _print_accounts(accounts: Sequence[Listed], out: Output) -> int:
    lines = [f"{'ACCOUNT':<18} {'ENV':<6} {'STATUS':<13} {'SERVER':<28} {'IP':<15} "
             f"{'REGION':<7} LOCAL URL"]
    lines += [f"{a.id:<18} {a.environment.value:<6} {a.do_server_status.value:<13} "
              f"{a.do_droplet_name or '-':<28} {a.do_ip_address or '-':<15} "
              f"{a.do_region or '-':<7} "
              + (f"https://localhost:{a.local_port}" if a.local_port else "-")
              for a in accounts]
    if not accounts:
        lines = ["No accounts yet. Connect one with `ibdesk connect --username U "
                 "--environment paper --password-stdin`."]
    out.result({"accounts": [_account_json(a) for a in accounts]}, lines)
    return EXIT_OK


def _report(out: Output, report: StatusReport) -> int:
    account, detail = report.account, report.decision.detail
    data = _account_json(account)
    data.update(reason=detail.reason, fix=detail.fix, warning=detail.warning,
                authenticated=detail.authenticated, connected=detail.connected,
                competing=detail.competing, gateway_message=detail.gateway_message,
                latency_ms=report.health.latency_ms if report.health else None)
    lines = [f"{account.id}: {account.do_server_status.value} — {detail.reason}"]
    if detail.warning:
        lines.append(f"  warning: {detail.warning}")
    if detail.fix:
        lines.append(f"  what to do: {detail.fix}")
    if detail.authenticated is not None:
        lines.append(f"  gateway: authenticated={detail.authenticated} "
                     f"connected={detail.connected} competing={detail.competing}")
    out.result(data, lines)
    return EXIT_OK if account.do_server_status is not ServerStatus.ERROR else EXIT_FAILED


def cmd_status(rt: Runtime, args: argparse.Namespace, out: Output) -> int:
    import asyncio

    from ibdesk.services.watch.status import StatusService

    return _report(out, asyncio.run(StatusService(rt).check(args.account_id)))


def _power(rt: Runtime, args: argparse.Namespace, out: Output) -> int:
    import asyncio

    from ibdesk.services.control.lifecycle import Lifecycle

    account = rt.repository.require_account(args.account_id)
    if args.command in ("stop", "restart"):
        confirm(f"{args.command.capitalize()} the server of {account.id} "
                f"({account.do_droplet_name})? Its gateway goes offline.", yes=args.yes)
    lifecycle = Lifecycle(rt, on_progress=out.progress)
    report = asyncio.run(lifecycle.power(ServerAction(args.command), account.id))
    if args.wait and args.command in ("start", "restart"):
        report = asyncio.run(_wait_running(rt, account.id, out))
    return _report(out, report)


async def _wait_running(rt: Runtime, account_id: str, out: Output,
                        timeout: float = 600.0) -> StatusReport:
    import asyncio

    from ibdesk.services.watch.status import StatusService

    service = StatusService(rt)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        report = await service.check(account_id)
        status = report.account.do_server_status
        if status in (ServerStatus.RUNNING, ServerStatus.ERROR) or loop.time() > deadline:
            return report
        out.progress(f"… {report.decision.detail.reason}")
        await asyncio.sleep(2.0)


def cmd_delete(rt: Runtime, args: argparse.Namespace, out: Output) -> int:
    import asyncio

    from ibdesk.services.control.lifecycle import Lifecycle

    account = rt.repository.require_account(args.account_id)
    question = (f"Delete {account.id} ({account.username}, {account.environment.value})? Its "
                f"server {account.do_droplet_name or ''} is destroyed for good.")
    confirm(question, yes=args.yes,
            expected=account.id if account.environment is Environment.LIVE else None)
    asyncio.run(Lifecycle(rt, on_progress=out.progress).delete(account.id))
    out.result({"account_id": account.id, "deleted": True}, [f"Deleted {account.id}."])
    return EXIT_OK


def cmd_port(rt: Runtime, args: argparse.Namespace, out: Output) -> int:
    import asyncio

    from ibdesk.services.control import local_port

    if args.port is None:
        account = local_port.port_for(rt, args.account_id)
    else:
        account = asyncio.run(local_port.change(rt, args.account_id, args.port))
    url = f"https://localhost:{account.local_port}"
    out.result({"account_id": account.id, "local_port": account.local_port, "url": url},
               [f"{account.id}: {url}"
                + (" (a tunnel open now keeps its port until it is closed and opened again)"
                   if args.port is not None else "")])
    return EXIT_OK


def cmd_tunnel(rt: Runtime, args: argparse.Namespace, out: Output) -> int:
    import asyncio

    from ibdesk.services.control.tunnel import KeptTunnel, TunnelState

    async def hold() -> None:
        first = True

        def said(event: TunnelEvent) -> None:
            nonlocal first
            if event.state is TunnelState.UP and first:
                first = False
                return
            out.progress(f"{datetime.now():%H:%M:%S} "
                         + ("tunnel back: " if event.state is TunnelState.UP else "")
                         + event.message)

        tunnel = KeptTunnel(rt, args.account_id, args.local_port, on_event=said)
        port = await tunnel.start()
        out.result({"account_id": args.account_id, "url": f"https://localhost:{port}"},
                   [f"The gateway of {args.account_id} is at https://localhost:{port} "
                    "(IBKR's self-signed certificate). It is kept open, and opened again "
                    "on this port when the server restarts. Ctrl+C to close."])
        try:
            await tunnel.wait()
        finally:
            await tunnel.close()

    try:
        asyncio.run(hold())
    except KeyboardInterrupt:
        out.progress("Tunnel closed.")
    return EXIT_OK


def cmd_password(rt: Runtime, args: argparse.Namespace, out: Output) -> int:
    import asyncio

    from ibdesk.services.control.credentials import change_password

    password = _without_line_end(read_stdin())
    if not password:
        raise IbdeskError("No password was given on standard input.")
    asyncio.run(change_password(rt, args.account_id, password))
    out.result({"account_id": args.account_id, "status": "initializing"},
               [f"New password delivered to {args.account_id}; IBeam is logging in again."])
    return EXIT_OK


COMMANDS = {
    "connect": cmd_connect,
    "password": cmd_password,
    "accounts": cmd_accounts,
    "status": cmd_status,
    "start": _power,
    "stop": _power,
    "restart": _power,
    "delete": cmd_delete,
    "tunnel": cmd_tunnel,
    "port": cmd_port,
}

__all__ = ["COMMANDS"]
