"""How ibdesk starts itself again: the monitor worker, the login item, a test's child.

From a Python installation that is `python -m ibdesk`. In a packaged app `sys.executable`
is the app's own executable (Briefcase's stub), which runs ibdesk's command line with the
arguments it is given and knows no `-m`: there the command is the executable alone.
"""

from __future__ import annotations

import os
import sys


def is_packaged(executable: str | None = None) -> bool:
    """True inside an installed app bundle (the executable is not a Python interpreter)."""
    name = os.path.basename(executable or sys.executable).lower()
    return not name.startswith(("python", "pypy"))


def self_command(executable: str | None = None) -> list[str]:
    """The program and first arguments that start ibdesk's command line again."""
    exe = executable or sys.executable
    return [exe] if is_packaged(exe) else [exe, "-m", "ibdesk"]


def module_command(module: str, executable: str | None = None) -> tuple[list[str], dict[str, str]]:
    """The command, and the environment it adds, that run `module` as `__main__` with this
    ibdesk's Python: `python -m module`, or in a packaged app its executable with
    BRIEFCASE_MAIN_MODULE, which every Briefcase stub (Linux, Windows, macOS) runs in place
    of the app's own module; the child's own children should not inherit it."""
    exe = executable or sys.executable
    if is_packaged(exe):
        return [exe], {"BRIEFCASE_MAIN_MODULE": module}
    return [exe, "-m", module], {}


__all__ = ["is_packaged", "module_command", "self_command"]
