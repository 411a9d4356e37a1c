"""The secret values this process has seen, for the log filter and support bundles.

Apart from `ibdesk.secrets` (the keyring) so that the log handler (`applog`), which
every command installs, does not load keyring to know what to mask.
"""

from __future__ import annotations

import threading

from ibdesk.domain.redaction import Ordered, ordered

_SEEN: set[str] = set()
"""Every secret value this process read from or gave to the keyring. Held only in memory
(where the values already are) so that the log filter can mask them exactly."""
_ORDERED: Ordered | None = None
"""`_SEEN` as the log filter needs it (longest first), made once per change rather than
on every log line: with 1,000 accounts' secrets, sorting them per line cost the monitor
~130 µs a line (benchmarks/redaction.py)."""
_LOCK = threading.Lock()


def remember(value: str | None) -> None:
    """Mark a value as secret for the log filter (also for values not yet stored, such
    as a password typed into the wizard)."""
    global _ORDERED
    if value and value not in _SEEN:
        with _LOCK:
            _SEEN.add(value)
            _ORDERED = None


def known_values() -> Ordered:
    """The values, longest first (what `redact` takes without sorting them again)."""
    global _ORDERED
    current = _ORDERED
    if current is None:
        with _LOCK:
            current = _ORDERED = ordered(_SEEN)
    return current


__all__ = ["known_values", "remember"]
