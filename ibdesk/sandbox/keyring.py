"""A keyring for sandbox mode on machines that have none (CI, a bare server).

The sandbox's secrets are its own fake ones (its token, the demo IBKR login, the SSH
key of simulated droplets), so keeping them in a root-only JSON file inside the sandbox
folder is acceptable there, and it lets one `ibdesk --sandbox` command pick up where the
last one stopped. Never used outside sandbox mode, and never picked by keyring itself.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from jaraco.classes import properties
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError


class SandboxFileKeyring(KeyringBackend):
    @properties.classproperty
    def priority(cls) -> float:  # noqa: N805 - keyring's class property
        raise RuntimeError("only for sandbox mode, never chosen automatically")

    def __init__(self, path: Path) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # keyring is untyped here
        self.path = path

    def _load(self) -> dict[str, str]:
        try:
            return dict(json.loads(self.path.read_text()))
        except (OSError, ValueError):
            return {}

    def _save(self, data: dict[str, str]) -> None:
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)
        tmp.replace(self.path)

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}/{username}"] = password
        self._save(data)

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        if data.pop(f"{service}/{username}", None) is None:
            raise PasswordDeleteError("not found")
        self._save(data)


class EnvFileKeyring(SandboxFileKeyring):
    """The same file keyring, chosen with PYTHON_KEYRING_BACKEND for test subprocesses:
    `PYTHON_KEYRING_BACKEND=ibdesk.sandbox.keyring.EnvFileKeyring` and
    `IBDESK_TEST_KEYRING_FILE=path`. Not viable (never picked) without that variable."""

    @properties.classproperty
    def priority(cls) -> float:  # noqa: N805
        if not os.environ.get("IBDESK_TEST_KEYRING_FILE"):
            raise RuntimeError("IBDESK_TEST_KEYRING_FILE is not set")
        return 0.01

    def __init__(self) -> None:
        super().__init__(Path(os.environ["IBDESK_TEST_KEYRING_FILE"]))


__all__ = ["EnvFileKeyring", "SandboxFileKeyring"]
