"""`ibdesk info`, `ibdesk token …`, `ibdesk sandbox serve` and the `--sandbox` runtime."""

from __future__ import annotations

import argparse
import asyncio
import platform
import subprocess
from typing import Any

from ibdesk import __version__
from ibdesk.cli.output import EXIT_OK, Output, read_secret
from ibdesk.domain.errors import IbdeskError
from ibdesk.services.runtime import Runtime
from ibdesk.services.token import TokenService


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
    data: dict[str, Any] = {
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
        secret = read_secret(args.stdin, "DigitalOcean API token: ")
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
    from ibdesk.sandbox.ibeam import HealthServer
    from ibdesk.sandbox.runner import serve

    for name in ("error_rate", "timeout_rate"):
        if not 0 <= getattr(args, name) <= 1:
            raise IbdeskError(f"--{name.replace('_', '-')} must be between 0 and 1.")
    for name in ("latency_ms", "droplet_rtt_ms"):
        if getattr(args, name) < 0:
            raise IbdeskError(f"--{name.replace('_', '-')} cannot be negative.")
    options = SandboxOptions(
        port=args.port, boot_seconds=args.boot_seconds, action_seconds=args.action_seconds,
        login_seconds=args.login_seconds, latency_ms=args.latency_ms,
        droplet_rtt_ms=args.droplet_rtt_ms, health_server=HealthServer(args.health),
        error_rate=args.error_rate, timeout_rate=args.timeout_rate,
        droplet_limit=args.droplet_limit, with_seed_image=args.with_seed_image,
        ibkr_users=Path(args.ibkr_users) if args.ibkr_users else None,
        state=Path(args.state).resolve() if args.state else None,
        first_boot_seconds=args.first_boot_seconds,
        maintenance_seconds=args.maintenance_seconds, real_ibeam=args.real_ibeam)
    if options.ibkr_users is not None and not options.ibkr_users.is_file():
        raise IbdeskError(f"The IBKR users file {options.ibkr_users} does not exist.")
    from ibdesk.sandbox.realibeam import RealIBeamUnavailable

    try:
        asyncio.run(serve(options, as_json=out.as_json, out=out.out))
    except RealIBeamUnavailable as exc:
        raise IbdeskError(str(exc)) from None
    except (ValueError, KeyError, OSError) as exc:
        raise IbdeskError(f"The sandbox could not start: {exc}") from None
    return EXIT_OK


def cmd_sandbox_install_ibeam(args: argparse.Namespace, out: Output) -> int:
    from ibdesk.sandbox.realibeam import (
        IBEAM_VERSION,
        IBeamInstall,
        RealIBeamUnavailable,
        default_home,
    )

    try:
        install = IBeamInstall(default_home()).ensure(say=out.progress)
    except (RealIBeamUnavailable, OSError, subprocess.CalledProcessError) as exc:
        raise IbdeskError(f"IBeam {IBEAM_VERSION} could not be installed: {exc}") from None
    out.result({"ibeam": IBEAM_VERSION, "home": str(install.home),
                "python": str(install.python)},
               [f"IBeam {IBEAM_VERSION} is in {install.home}."])
    return EXIT_OK



COMMANDS = {"info": cmd_info, "token": cmd_token}

__all__ = ["COMMANDS", "cmd_info", "cmd_sandbox_install_ibeam", "cmd_sandbox_serve",
           "cmd_token"]
