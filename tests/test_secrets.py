from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail
from keyring.errors import KeyringError, KeyringLocked, NoKeyringError

from ibdesk.domain.errors import KeyringUnavailable, SecretsError
from ibdesk.secrets import DO_TOKEN, SecretStore, account_secret_names, ibkr_password
from tests.helpers import CANARY_PASSWORD, PYTHON, MemoryKeyring


def test_round_trip_under_one_service(memory_keyring: MemoryKeyring) -> None:
    store = SecretStore("ibdesk-test")
    assert store.get(DO_TOKEN) is None
    store.set(DO_TOKEN, "tok")
    store.set(ibkr_password("ib-demo-a1b2c3d4"), CANARY_PASSWORD)
    assert store.get(ibkr_password("ib-demo-a1b2c3d4")) == CANARY_PASSWORD
    assert {s for s, _ in memory_keyring.store} == {"ibdesk-test"}
    assert store.delete(DO_TOKEN) is True
    assert store.delete(DO_TOKEN) is False
    assert store.get(DO_TOKEN) is None


def test_names_per_account() -> None:
    names = account_secret_names("ib-live-a1b2c3d4")
    assert len(names) == len(set(names)) == 2
    assert all("ib-live-a1b2c3d4" in n for n in names)


def test_empty_secret_is_refused() -> None:
    with pytest.raises(SecretsError, match="empty"):
        SecretStore().set(DO_TOKEN, "")


def test_no_backend_says_how_to_fix_it() -> None:
    keyring.set_keyring(fail.Keyring())
    store = SecretStore()
    for call in (lambda: store.get(DO_TOKEN), lambda: store.set(DO_TOKEN, "x"),
                 lambda: store.delete(DO_TOKEN), store.check):
        with pytest.raises(KeyringUnavailable) as info:
            call()
        assert "No usable system keyring" in info.value.user_message


@pytest.mark.parametrize(("platform", "words"), [
    ("linux", "gnome-keyring"), ("darwin", "Keychain"), ("win32", "Credential Manager")])
def test_fix_hint_per_os(monkeypatch: pytest.MonkeyPatch, platform: str, words: str) -> None:
    monkeypatch.setattr(sys, "platform", platform)
    keyring.set_keyring(fail.Keyring())
    with pytest.raises(KeyringUnavailable, match=words):
        SecretStore().get(DO_TOKEN)


class _Broken(MemoryKeyring):
    def __init__(self, exc: KeyringError) -> None:
        super().__init__()
        self.exc = exc

    def get_password(self, service: str, username: str) -> str | None:
        raise self.exc

    def set_password(self, service: str, username: str, password: str) -> None:
        raise self.exc


@pytest.mark.parametrize(("exc", "error", "words"), [
    (KeyringLocked("locked " + CANARY_PASSWORD), SecretsError, "locked"),
    (NoKeyringError("none"), KeyringUnavailable, "No system keyring"),
    (KeyringError("weird " + CANARY_PASSWORD), SecretsError, "could not store"),
])
def test_backend_failures_are_typed_and_never_echo_secrets(exc: KeyringError, error: type,
                                                           words: str) -> None:
    store = SecretStore(backend=_Broken(exc))
    with pytest.raises(error) as info:
        store.set(ibkr_password("ib-demo-a1b2c3d4"), CANARY_PASSWORD)
    assert words in info.value.user_message
    for text in (str(info.value), repr(info.value), repr(info.value.__cause__)):
        assert CANARY_PASSWORD not in text


def test_repr_holds_no_secret() -> None:
    store = SecretStore()
    store.set(DO_TOKEN, CANARY_PASSWORD)
    assert CANARY_PASSWORD not in repr(store)


_REAL_SCRIPT = textwrap.dedent("""
    import sys
    import keyring
    from ibdesk.secrets import SecretStore
    store = SecretStore("ibdesk-real-keyring-test")
    print("backend", store.check())
    value = sys.stdin.read()
    store.set("canary", value)
    assert store.get("canary") == value, "round trip failed"
    assert store.delete("canary") is True
    assert store.get("canary") is None
    print("ok")
""")


@pytest.mark.real_keyring
def test_real_secret_service(tmp_path: Path) -> None:
    """A real Secret Service: gnome-keyring-daemon inside dbus-run-session."""
    needed = [shutil.which(t) for t in ("dbus-run-session", "gnome-keyring-daemon")]
    if not all(needed):
        if os.environ.get("IBDESK_REQUIRE_REAL_KEYRING") == "1":
            pytest.fail("dbus-run-session / gnome-keyring-daemon are missing")
        pytest.skip("needs dbus-run-session and gnome-keyring (installed by the test command)")
    script = tmp_path / "real.py"
    script.write_text(_REAL_SCRIPT)
    shell = ('eval "$(printf \'\\n\' | gnome-keyring-daemon --unlock --components=secrets)" '
             f'>/dev/null && exec {shlex.join([*PYTHON, str(script)])}')
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBUS_")}
    env["HOME"] = str(tmp_path)  # a fresh, empty login keyring
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.SecretService.Keyring"
    result = subprocess.run(["dbus-run-session", "--", "sh", "-c", shell], input=CANARY_PASSWORD,
                            capture_output=True, text=True, env=env, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "backend keyring.backends.SecretService.Keyring" in result.stdout
    assert result.stdout.strip().endswith("ok")
    assert CANARY_PASSWORD not in result.stdout + result.stderr


def test_memory_keyring_is_never_picked_by_itself() -> None:
    """keyring registers every backend class; ours must never become the default."""
    from keyring.backend import get_all_keyring

    from ibdesk.secrets import MemoryKeyring

    assert not any(isinstance(k, MemoryKeyring) for k in get_all_keyring())
    assert not MemoryKeyring.viable
