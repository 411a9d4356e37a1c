"""Every secret ibdesk holds lives in the OS keyring, under one service name.

The DigitalOcean token, IBKR passwords, 2FA secrets and the app's SSH private key are
stored and read here and nowhere else: nothing is cached on disk, and no error raised
here ever contains a secret value. Backends that would write secrets to a plain file
(keyrings.alt's plaintext keyring, the null/fail backends) are refused with a message
saying how to get a real keyring on each OS.
"""

from __future__ import annotations

import logging
import sys

import keyring
import keyring.errors
from jaraco.classes import properties
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

from ibdesk.domain.errors import KeyringUnavailable, SecretsError
from ibdesk.secret_values import known_values, remember

log = logging.getLogger(__name__)

DEFAULT_SERVICE = "ibdesk"

#: Names of the secrets ibdesk keeps (the keyring "username" field).
DO_TOKEN = "digitalocean-token"
SSH_PRIVATE_KEY = "ssh-private-key"
ALERT_URLS = "alert-urls"
"""A JSON list of Apprise URLs (services.watch.alerts): each carries its service's
credentials."""


def ibkr_password(account_id: str) -> str:
    return f"ibkr-password:{account_id}"


def totp_secret(account_id: str) -> str:
    return f"ibkr-totp-secret:{account_id}"


def account_secret_names(account_id: str) -> list[str]:
    return [ibkr_password(account_id), totp_secret(account_id)]


_UNSAFE_BACKENDS = ("keyring.backends.fail", "keyring.backends.null", "keyrings.alt")


def _fix_hint() -> str:
    if sys.platform == "darwin":
        return ("On macOS the login Keychain is used: open Keychain Access and make sure the "
                "login keychain exists and is unlocked.")
    if sys.platform.startswith("win"):
        return ("On Windows the Credential Manager is used: make sure you are logged in to a "
                "normal user session (not a service account) and that Credential Manager runs.")
    return ("On Linux a Secret Service is needed: install GNOME Keyring or KWallet "
            "(`sudo apt install gnome-keyring`) and log in to a desktop session; on a "
            "machine without a desktop, run ibdesk inside `dbus-run-session` after "
            "`gnome-keyring-daemon --unlock --components=secrets`.")


def describe_backend(backend: KeyringBackend) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__name__}"


class MemoryKeyring(KeyringBackend):
    """Secrets in this process's memory only, gone when it exits.

    Used by the tests, and by sandbox mode when the machine has no keyring at all (its
    secrets are the sandbox's own, never a real account's). Never chosen for real use.
    """

    @properties.classproperty
    def priority(cls) -> float:  # noqa: N805 - keyring's class property
        # keyring registers every backend class it sees and picks the best viable one;
        # raising here makes this one never viable, so it is only used when passed in.
        raise RuntimeError("MemoryKeyring is never chosen automatically")

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # keyring is untyped here
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


class SecretStore:
    """get / set / delete secrets under one keyring service name.

    `get` answers None for a secret that is not stored; a missing or unusable keyring
    raises KeyringUnavailable, any other backend failure SecretsError. The backend can be
    given (tests use an in-memory one); by default keyring's own choice is used.
    """

    def __init__(self, service: str = DEFAULT_SERVICE, backend: KeyringBackend | None = None):
        self.service = service
        self._backend = backend

    def __repr__(self) -> str:
        return f"SecretStore(service={self.service!r})"

    @property
    def backend(self) -> KeyringBackend:
        backend = self._backend or keyring.get_keyring()
        name = describe_backend(backend)
        if name.startswith(_UNSAFE_BACKENDS):
            raise KeyringUnavailable(
                f"No usable system keyring was found (ibdesk found {name}). " + _fix_hint(),
                backend=name)
        return backend

    @property
    def backend_name(self) -> str:
        return describe_backend(self._backend or keyring.get_keyring())

    def check(self) -> str:
        """The backend's name, or KeyringUnavailable; round-trips nothing."""
        return describe_backend(self.backend)

    def get(self, name: str) -> str | None:
        backend = self.backend
        try:
            value = backend.get_password(self.service, name)
        except keyring.errors.KeyringError as exc:
            raise self._translate(exc, "read", name) from None
        remember(value)
        return value

    def set(self, name: str, value: str) -> None:
        if not value:
            raise SecretsError(f"Refusing to store an empty secret for {name}.", secret=name)
        remember(value)
        backend = self.backend
        try:
            backend.set_password(self.service, name, value)
        except keyring.errors.KeyringError as exc:
            raise self._translate(exc, "store", name) from None
        log.info("stored secret %s in %s", name, describe_backend(backend))

    def delete(self, name: str) -> bool:
        """Remove a secret; False when it was not there."""
        backend = self.backend
        try:
            backend.delete_password(self.service, name)
        except keyring.errors.PasswordDeleteError:
            return False
        except keyring.errors.KeyringError as exc:
            raise self._translate(exc, "delete", name) from None
        log.info("deleted secret %s", name)
        return True

    def _translate(self, exc: keyring.errors.KeyringError, verb: str, name: str) -> SecretsError:
        # The library's message never holds the value, but keep only its type to be sure.
        kind = type(exc).__name__
        if isinstance(exc, keyring.errors.NoKeyringError):
            return KeyringUnavailable("No system keyring is available. " + _fix_hint(),
                                      secret=name)
        if isinstance(exc, keyring.errors.KeyringLocked):
            return SecretsError(
                f"The system keyring is locked, so ibdesk cannot {verb} {name}. Unlock it "
                "(log in to the desktop, or unlock it in your keyring app) and try again.",
                secret=name)
        return SecretsError(f"The system keyring could not {verb} {name} ({kind}).", secret=name)


__all__ = [
    "KeyringBackend",
    "DEFAULT_SERVICE",
    "DO_TOKEN",
    "MemoryKeyring",
    "SSH_PRIVATE_KEY",
    "known_values",
    "remember",
    "SecretStore",
    "account_secret_names",
    "describe_backend",
    "ibkr_password",
    "totp_secret",
]
