"""ibdesk: an always-on IBeam gateway per Interactive Brokers login, watched from the desktop.

This module stays import-light on purpose: `python -m ibdesk --version` and the
bootstrap must not pay for Qt, SQLAlchemy or httpx.
"""

import sys

# httpx's package imports its command-line client (`httpx._main`: click, pygments, rich)
# whenever it can, and fails quietly when one is missing. ibdesk never runs that client,
# yet apprise brings click, so every ibdesk process paid for it: 1.3 MB with the app's
# own packages, 5.7 MB and ~40 ms of start-up where the development tools add rich and
# pygments (the monitor's benchmark runs there; issue 18's 200 MB). A None entry makes
# that import fail at once, which httpx already handles (`httpx.main` then says the CLI
# is not installed). setdefault: a process that imported httpx before us keeps its own.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

__version__ = "0.1.0"

__all__ = ["__version__"]
