"""Every test runs with a fresh data folder, a clean environment and an in-memory keyring.

The hypothesis modules below are imported here, first, on purpose: its pytest plugin
imports them late in a run, and pytest then parses (rewrites) them. After PySide6 has run
in the process, CPython 3.11 can refuse that parse ("AST constructor recursion depth
mismatch"), which crashed the window tests now and then.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import hypothesis._settings  # noqa: F401
import hypothesis.internal.observability  # noqa: F401
import keyring
import pytest

from tests.helpers import MemoryKeyring

pytest_plugins = ["tests.helpers.fixtures"]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in list(os.environ):
        if name.startswith(("IBDESK_", "DIGITAL_OCEAN_")) and \
                not name.startswith(("IBDESK_REQUIRE_", "IBDESK_SANDBOX_IBEAM_HOME")):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    monkeypatch.setenv("IBDESK_HOME", str(home))
    return home


@pytest.fixture
def home(_clean_environment: Path) -> Path:
    return _clean_environment


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture(autouse=True)
def _app_log_detached() -> Iterator[None]:
    """A command run in-process attaches ibdesk's log file; detach it after each test."""
    yield
    from ibdesk import applog

    applog.uninstall()


@pytest.fixture(autouse=True)
def _umask_kept() -> Iterator[None]:
    """`ibdesk`'s main sets the process's umask to 077; a command run in-process must not
    change the modes later tests (the sandbox's simulated droplets) create files with."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield
    os.umask(previous)
