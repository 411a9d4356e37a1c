"""Helpers of the DigitalOcean client's tests: the base URL, a fake clock."""

from __future__ import annotations

BASE = "https://api.test"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
