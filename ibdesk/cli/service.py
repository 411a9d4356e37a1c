"""`ibdesk service install | uninstall | status`: the monitor and schedules without the
window (ibdesk.service says how, per platform)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ibdesk.cli.output import EXIT_FAILED, EXIT_OK, Output

if TYPE_CHECKING:
    from ibdesk.services.runtime import Runtime


def cmd_service(rt: Runtime, args: argparse.Namespace, out: Output) -> int:
    from ibdesk import service
    from ibdesk.paths import default_home

    home = rt.settings.home if rt.settings.home != default_home() else None
    action = args.service_command
    if action == "install":
        state = service.install(home)
    elif action == "uninstall":
        state = service.uninstall()
    else:
        state = service.status()
    running = {True: "running", False: "not running", None: "unknown"}[state.running]
    lines = [f"service: {'installed' if state.installed else 'not installed'}, {running}"
             f" ({state.where})"]
    if state.detail and state.running is None:
        lines.append(f"  {state.detail}")
    if action == "install":
        lines.append("  it runs `ibdesk watch`: the monitor, alerts and schedules go on "
                     "without the window (not both needed; they never act twice)")
    out.result({"installed": state.installed, "running": state.running,
                "where": state.where, "detail": state.detail}, lines)
    return EXIT_OK if action != "install" or state.installed else EXIT_FAILED


COMMANDS = {"service": cmd_service}

__all__ = ["COMMANDS"]
