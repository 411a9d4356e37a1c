"""How ibdesk waits between looks at something that is not ready yet.

Every poll (a droplet booting, an action, cloud-init, the gateway logging in, SSH
coming up, a created droplet showing in listings, a tunnel reconnecting) waits `first`,
then each wait `FACTOR` times the last, up to `cap`: quick for what is nearly ready,
gentle on DigitalOcean's rate limit and the server for what is not.
"""

from __future__ import annotations

FACTOR = 1.5


class Backoff:
    """The waits of one poll: `next(waits)` is the next one; `reset()` starts over (a
    tunnel that came back and dropped again waits `first` again)."""

    def __init__(self, first: float, cap: float, factor: float = FACTOR) -> None:
        if first <= 0 or cap < first or factor < 1:
            raise ValueError("a back-off needs 0 < first <= cap and a factor of at least 1")
        self.first, self.cap, self.factor = first, cap, factor
        self._next = first

    def __iter__(self) -> Backoff:
        return self

    def __next__(self) -> float:
        wait = self._next
        self._next = min(self.cap, wait * self.factor)
        return wait

    def reset(self) -> None:
        self._next = self.first


__all__ = ["FACTOR", "Backoff"]
