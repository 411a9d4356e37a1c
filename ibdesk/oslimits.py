"""Operating-system limits ibdesk lifts for itself.

Both the monitor (an SSH connection and two forwards per watched account) and the
sandbox (an SSH server per simulated droplet) hold thousands of sockets at scale; macOS
starts processes with a soft limit of 256 open files, Linux often with 1,024.
"""

from __future__ import annotations

import contextlib
import sys


def raise_file_limit(wanted: int = 65536) -> None:
    """Lift the soft limit on open files towards `wanted` (never above the hard limit)."""
    if sys.platform.startswith("win"):
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(hard, wanted)
    if soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


__all__ = ["raise_file_limit"]
