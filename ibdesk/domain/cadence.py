"""How often an account is looked at: the one set of defaults and bounds.

The settings model, the monitor's configuration, the window's monitor worker, the
command line's `watch` and the settings dialog all read these, so that "every 5 s while
starting, every 60 s when running, every 30 s in error" is written once. Kept here, in
the pure domain, because the command-line grammar needs the numbers without loading
pydantic-settings.
"""

from __future__ import annotations

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

__all__ = ["CADENCE", "ERROR_BOUNDS", "STEADY_BOUNDS", "Bounds", "Cadence"]
