"""Pause points for the crash tests, which SIGKILL a real `ibdesk` process at exact
moments (after each connect step, in the middle of a delete) and check that a restart
recovers. With IBDESK_PAUSE_AT unset, which is always outside those tests, `pause_point`
returns at once."""

from __future__ import annotations

import os
import sys
import time


def pause_point(name: str) -> None:
    if os.environ.get("IBDESK_PAUSE_AT") == name:
        print(f"[paused at {name}]", file=sys.stderr, flush=True)
        time.sleep(3600)  # the test kills the process here


__all__ = ["pause_point"]
