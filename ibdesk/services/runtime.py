"""The composition root shared by the CLI and the window: settings, store, secrets.

Front ends build one `Runtime` at start-up and hand its parts to the use cases, so that
every use case can be tested with a fake keyring, a temporary database and a fake
DigitalOcean transport.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ibdesk.config import Settings, load_settings
from ibdesk.private_files import tighten
from ibdesk.secrets import SecretStore

if TYPE_CHECKING:  # loaded when first used: the window paints before HTTP is needed
    from ibdesk.cloud import DigitalOceanClient
    from ibdesk.cloud.client import Transport
    from ibdesk.secrets import KeyringBackend
    from ibdesk.services.async_store import AsyncRepository
    from ibdesk.store import Repository


@dataclass(frozen=True)
class SandboxInfo:
    """Shown to the person whenever ibdesk runs against the local sandbox."""

    api_url: str
    ibkr_username: str
    ibkr_password: str
    note: str | None = None


@dataclass
class Runtime:
    settings: Settings
    secrets: SecretStore
    transport: Transport | None = None
    sandbox: SandboxInfo | None = None
    _repository: Repository | None = field(default=None, repr=False)

    _open_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def repository(self) -> Repository:
        """Opened (and migrated) on first use: `ibdesk token …` needs no database. The
        window's first reads run on worker threads at once; one of them opens it."""
        if self._repository is None:
            with self._open_lock:
                if self._repository is None:
                    from ibdesk.store import Repository

                    self._repository = Repository.open(self.settings.effective_database_url)
        return self._repository

    @property
    def store(self) -> AsyncRepository:
        """The repository for coroutines: each call on a worker thread (async_store)."""
        from ibdesk.services.async_store import AsyncRepository

        return AsyncRepository(self)

    def cloud(self, token: str) -> DigitalOceanClient:
        from ibdesk.cloud import DigitalOceanClient

        return DigitalOceanClient(token, base_url=self.settings.do_api_url,
                                  timeout=self.settings.http_timeout, transport=self.transport)

    def close(self) -> None:
        if self._repository is not None:
            self._repository.close()
            self._repository = None


def open_runtime(
    home: str | os.PathLike[str] | None = None,
    *,
    keyring_backend: KeyringBackend | None = None,
    transport: Transport | None = None,
    **overrides: object,
) -> Runtime:
    settings = load_settings(home, **overrides)
    tighten(settings.home)  # 0700, its files 0600 (ibdesk/private_files.py)
    secrets = SecretStore(settings.keyring_service, backend=keyring_backend)
    return Runtime(settings=settings, secrets=secrets, transport=transport)


__all__ = ["Runtime", "SandboxInfo", "open_runtime"]
