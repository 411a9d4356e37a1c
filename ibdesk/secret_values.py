"""The secret values this process has seen, for the log filter and support bundles.

Apart from `ibdesk.secrets` (the keyring) so that the log handler (`applog`), which
every command installs, does not load keyring to know what to mask.
"""

from __future__ import annotations

_SEEN: set[str] = set()
"""Every secret value this process read from or gave to the keyring. Held only in memory
(where the values already are) so that the log filter can mask them exactly."""


def remember(value: str | None) -> None:
    """Mark a value as secret for the log filter (also for values not yet stored, such
    as a password typed into the wizard)."""
    if value:
        _SEEN.add(value)


def known_values() -> frozenset[str]:
    return frozenset(_SEEN)


__all__ = ["known_values", "remember"]
