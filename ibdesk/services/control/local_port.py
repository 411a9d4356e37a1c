"""Each account's own port on this computer: https://localhost:PORT is that account's
gateway, always, never another's.

A trading program is configured once with a URL. When ports were handed out by whichever
tunnel opened first (5000 when free, a random one when not), a program set up for account
1 could reach account 2 — a risk of trading on the wrong account. So the port is chosen
once per account (the first from 5000 up that no account has and no program here holds),
kept in the store with a unique index, and a tunnel only ever listens on it: when another
program holds it, the tunnel says which program and waits, it never moves.
"""

from __future__ import annotations

import errno
import logging
import socket

from ibdesk.domain.errors import InvalidInput
from ibdesk.domain.models import Account
from ibdesk.services.remote import in_thread
from ibdesk.services.runtime import Runtime

log = logging.getLogger(__name__)


def listening(port: int, host: str = "127.0.0.1") -> bool:
    """Something on this computer listens on host:port (a bind as the tunnel would make
    it — with SO_REUSEADDR like asyncio's servers — fails)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        if hasattr(socket, "SO_REUSEADDR") and not hasattr(socket, "SO_EXCLUSIVEADDRUSE"):
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1),
                                 errno.EACCES)
    return False


def holder(port: int) -> str | None:
    """Which program listens on the port here ("python3, process 4242"), when the system
    says (psutil; another user's process may not be named), else None."""
    try:
        import psutil

        for conn in psutil.net_connections(kind="tcp"):
            if conn.status != psutil.CONN_LISTEN or not conn.laddr or conn.laddr.port != port:
                continue
            if conn.pid is None:
                return None
            try:
                return f"{psutil.Process(conn.pid).name()}, process {conn.pid}"
            except (psutil.Error, OSError):
                return f"process {conn.pid}"
    except Exception:  # AccessDenied on macOS without root, or no psutil: unnamed
        log.debug("could not name the holder of port %d", port, exc_info=True)
    return None


def taken_sentence(port: int, account_id: str) -> str:
    """What to say when another program holds the account's port."""
    who = holder(port)
    return (f"localhost:{port}, {account_id}'s port, is taken by another program on this "
            f"computer{f' ({who})' if who else ''}. Close that program, or give {account_id} "
            "another port in its panel (ibdesk never moves a tunnel by itself: a program set "
            "up for this port must never reach another account).")


def port_for(rt: Runtime, account_id: str) -> Account:
    """The account with its local port (one is given now to an account made before ports
    were kept, or whose migration found none)."""
    repo = rt.repository
    account = repo.require_account(account_id)
    if account.local_port is None:
        account = repo.set_local_port(account_id, None, skip=listening)
    return account


def suggest(rt: Runtime) -> int:
    """The port a new account would get: the first from 5000 up that no account has and
    nothing here listens on."""
    return rt.repository.free_local_port(skip=listening)


def refuse_held(port: int) -> None:
    """InvalidInput naming the program, when one listens on the port here."""
    if listening(port):
        who = holder(port)
        raise InvalidInput(f"localhost:{port} is taken by another program on this computer"
                           f"{f' ({who})' if who else ''}. Pick another port.")


async def check(rt: Runtime, port: int, account_id: str | None = None, *,
                tunnel_open_on: int = 0) -> None:
    """InvalidInput with why, when `port` cannot be `account_id`'s (None: a new
    account's): outside 1024–65535, another account's, or held by another program here
    (unless that is the account's own tunnel, `tunnel_open_on`)."""
    await rt.store.check_local_port(port, account_id)
    if port != tunnel_open_on:
        await in_thread(refuse_held, port)


async def change(rt: Runtime, account_id: str, port: int, *, tunnel_open_on: int = 0) -> Account:
    """Give the account another port: refused (with why) when it is outside 1024–65535,
    held by another program here (unless it is the account's own tunnel,
    `tunnel_open_on`), or another account's (checked by the store as it writes)."""
    if not 1024 <= port <= 65535:  # before a bind below 1024 reads as "taken"
        raise InvalidInput(f"{port} is not a port ibdesk can use: pick one from 1024 to 65535 "
                           "(those below 1024 need administrator rights).")
    if port != tunnel_open_on:
        await in_thread(refuse_held, port)
    return await rt.store.set_local_port(account_id, port)


__all__ = ["change", "check", "holder", "listening", "port_for", "refuse_held", "suggest",
           "taken_sentence"]
