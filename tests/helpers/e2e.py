"""Helpers of the end-to-end tests against the sandbox: users, timings, requests, a provisioner."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ibdesk.domain.enums import Environment, TwoFactorHandler
from ibdesk.domain.models import Account, OperationOwner
from ibdesk.sandbox import IBKRUser, Sandbox, SandboxOptions
from ibdesk.secrets import DO_TOKEN
from ibdesk.services import Runtime, open_runtime
from ibdesk.services.connect.provisioner import ConnectRequest, Progress, Provisioner, Timing

TOTP = "JBSWY3DPEHPK3PXP"


USERS = [IBKRUser("demo4711", "demo pass"), IBKRUser("paperjane", "p@per'pa$$"),
         IBKRUser("livejoe", "l!ve\"pass", totp_secret=TOTP)]


FAST = Timing(active_timeout=30, ssh_timeout=10, gateway_timeout=15, poll=0.05, poll_cap=0.2)


def options(**kw: object) -> SandboxOptions:
    base: dict[str, object] = dict(boot_seconds=0.2, action_seconds=0.2, login_seconds=0.2,
                                   maintenance_seconds=1.0, users=list(USERS),
                                   tick_seconds=0.05, first_boot_seconds=0.3)
    base.update(kw)
    return SandboxOptions(**base)  # type: ignore[arg-type]


def runtime_for(sandbox: Sandbox, home: Path) -> Runtime:
    rt = open_runtime(home, do_api_url=sandbox.api_url, sandbox_ssh_map_url=sandbox.ssh_map_url,
                      public_ip_url=sandbox.public_ip_url)
    rt.secrets.set(DO_TOKEN, sandbox.token)
    return rt


def request(env: str = "demo", **kw: object) -> ConnectRequest:
    defaults: dict[str, dict[str, object]] = {
        "demo": dict(username="demo4711", password="demo pass"),
        "paper": dict(username="paperjane", password="p@per'pa$$"),
        "live": dict(username="livejoe", password="l!ve\"pass",
                     two_fa_handler=TwoFactorHandler.PYOTP, totp_secret=TOTP),
    }
    fields = {**defaults[env], "environment": Environment(env), **kw}
    return ConnectRequest(**fields)  # type: ignore[arg-type]


def set_owner(rt: Runtime, tag: str, *, pid: int, host: str | None = None,
              run: str = "another-run") -> OperationOwner:
    """Make `tag` owned by another run (of the process `pid`), as a test's setup."""
    owner = OperationOwner(run=run, pid=pid, host=host or socket.gethostname())
    rt.repository.claim_operation(tag, owner, alive=lambda _: False)
    return owner


def provisioner(rt: Runtime, events: list[Progress] | None = None) -> Provisioner:
    return Provisioner(rt, on_progress=events.append if events is not None else None,
                       timing=Timing(**vars(FAST)))


async def cycle_until(monitor: Any, rt: Runtime, account_id: str,
                      reached: Callable[[Account], object], *, tries: int = 200,
                      pause: float = 0.0) -> Account:
    """Run forced monitor cycles, `pause` seconds apart, until `reached(account)`, at most
    `tries`; the account as it is then (the caller asserts)."""
    for index in range(tries):
        if index and pause:
            await asyncio.sleep(pause)
        await monitor.cycle(force=True)
        account = rt.repository.require_account(account_id)
        if reached(account):
            return account
    return rt.repository.require_account(account_id)
