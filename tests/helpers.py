"""Fakes shared by the tests."""

from __future__ import annotations

from typing import Any

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError


class MemoryKeyring(KeyringBackend):
    """A keyring that lives in a dict: tests never touch the OS keychain."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.store[(service, username)]
        except KeyError:
            raise PasswordDeleteError("not found") from None


class NoSleep:
    """Stands in for asyncio.sleep: records the waits, and moves a fake clock on."""

    def __init__(self, clock: Any = None) -> None:
        self.waits: list[float] = []
        self.clock = clock

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.clock is not None:
            self.clock.now += seconds


CANARY_TOKEN = "dop_v1_CANARYTOKEN0123456789abcdef0123456789abcdef0123456789abcdef"
CANARY_PASSWORD = "canary-P@ss'w\"rd$`;&|/\\ñ"
