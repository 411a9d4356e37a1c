"""How often an account is looked at: the one set of defaults and bounds.

The settings model, the monitor's configuration, the window's monitor worker, the
command line's `watch` and the settings dialog all read these, so that "every 5 s while
starting, every 60 s when running, every 30 s in error" is written once. Kept here, in
the pure domain, because the command-line grammar needs the numbers without loading
pydantic-settings.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Bounds:
    low: float
    high: float

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int | float) and self.low <= value <= self.high


@dataclass(frozen=True)
class Cadence:
    fast: float = 5.0
    """Seconds between looks at an account in transition (starting, logging in)."""
    steady: float = 60.0
    """Seconds between looks at a running or stopped account."""
    error: float = 30.0
    """Seconds between looks at an account in error."""


CADENCE = Cadence()
"""The defaults."""
STEADY_BOUNDS = Bounds(15, 3600)
"""What a person may set `check_interval` to (settings file, environment, dialog)."""
ERROR_BOUNDS = Bounds(10, 600)
"""What a person may set `check_interval_error` to."""
BEATS = 10
"""Phases per interval an account's beat can fall on (a steady minute: every 6 s)."""


def next_look(account_id: str, now: float, interval: float) -> float:
    """When to look at an account again: on its own beat, `interval` apart, each account
    at one of BEATS phases of the interval (taken from its id), never sooner than half an
    interval after `now`.

    Without a phase, every account looked at in one cycle came due again together: a
    thousand probes in one burst every minute and nothing between. With one, a steady
    minute's probes are spread over it, and a look out of turn (a refresh, a forced
    cycle) is followed by one back on the account's beat. A few phases, not one per
    account: each cycle reads every account from the store and tells the window, so a
    thousand phases made a cycle every 0.2 s with a handful of probes in each."""
    phase = zlib.crc32(account_id.encode()) * BEATS // 2**32 * interval / BEATS
    earliest = now + interval / 2
    return earliest + (phase - earliest) % interval


__all__ = ["BEATS", "CADENCE", "ERROR_BOUNDS", "STEADY_BOUNDS", "Bounds", "Cadence", "next_look"]
