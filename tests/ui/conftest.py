"""UI tests: a qasync loop on the test's QApplication, and a sandbox on its own thread."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import qasync
from PySide6.QtWidgets import QApplication

from ibdesk.sandbox.runner import SandboxThread
from ibdesk.secrets import DO_TOKEN
from ibdesk.services import open_runtime
from ibdesk.services.runtime import Runtime, SandboxInfo
from ibdesk.ui.gc_guard import QtThreadCollector
from tests.helpers.e2e import options


@pytest.fixture
def loop(qapp: QApplication) -> Iterator[qasync.QEventLoop]:
    collector = QtThreadCollector()  # as the app does: Qt objects are collected on its thread
    collector.start()
    # A test closing its last window must not end the Qt loop under a running scenario.
    qapp.setQuitOnLastWindowClosed(False)
    event_loop = qasync.QEventLoop(qapp, already_running=False)
    pool = ThreadPoolExecutor(4, thread_name_prefix="ibdesk-io")
    event_loop.set_default_executor(pool)  # as the app does
    asyncio.set_event_loop(event_loop)
    yield event_loop
    event_loop.run_until_complete(asyncio.sleep(0))
    event_loop.close()
    pool.shutdown(wait=True)
    asyncio.set_event_loop(None)
    collector.stop()


@pytest.fixture
def sandboxed(home: Path) -> Iterator[Runtime]:
    runner = SandboxThread(options())
    sandbox = runner.start()
    rt = open_runtime(home, do_api_url=sandbox.api_url, sandbox_ssh_map_url=sandbox.ssh_map_url,
                      public_ip_url=sandbox.public_ip_url)
    rt.secrets.set(DO_TOKEN, sandbox.token)
    rt.sandbox = SandboxInfo(sandbox.api_url, "demo4711", "demo pass")
    rt.runner = runner  # type: ignore[attr-defined]
    yield rt
    rt.close()
    runner.stop()


@pytest.fixture(autouse=True)
def _application(qapp: QApplication) -> QApplication:
    """Icons and pixmaps need a QApplication even in model-only tests."""
    return qapp
