"""Start-up of the desktop app: settings, store, secrets, services, then the window on
one asyncio loop inside Qt (qasync).

`ibdesk` opens the window with the real settings and keyring; `ibdesk --sandbox` opens
it on the local sandbox. Closing the window stops the monitor, closes SSH connections
and the database, then quits.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from qasync import QEventLoop

# asyncio, qasync, the settings, the store and the services are imported inside
# run_window, after the start-up snapshot is on screen (see ui/snapshot.py).

log = logging.getLogger(__name__)


def can_show_window() -> bool:
    """False on a Linux machine with no display (a server, an SSH session)."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return True
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def app_icon() -> QIcon:
    from importlib import resources

    icon = QIcon()
    assets = resources.files("ibdesk.ui") / "assets"
    for size in (32, 64, 128, 256):
        with resources.as_file(assets / f"ibdesk-{size}.png") as path:
            icon.addFile(str(path))
    return icon


def make_application() -> QApplication:
    app = QApplication.instance() or QApplication(["ibdesk"])
    assert isinstance(app, QApplication)
    app.setApplicationName("ibdesk")
    app.setApplicationDisplayName("ibdesk")
    app.setOrganizationName("ibdesk")
    app.setWindowIcon(app_icon())
    app.setQuitOnLastWindowClosed(False)  # the window's close handler ends the loop
    return app


def show_snapshot(app: QApplication, home: str | None, *, sandbox: bool) -> Any:
    """Paint the accounts as they were at the last close, before anything heavy loads;
    None when there is no snapshot yet (a first start)."""
    from ibdesk import paths
    from ibdesk.ui import snapshot

    folder = paths.sandbox_home(home) if sandbox else paths.resolve_home(home)
    data = snapshot.read(folder)
    if data is None or not data["rows"]:
        return None
    window = snapshot.SnapshotWindow(data)
    window.show()
    app.processEvents()  # painted now, not when the loop starts
    return window


def _event_loop(app: QApplication) -> tuple[QEventLoop, ThreadPoolExecutor]:
    """qasync's loop on the Qt application, with plain threads for disk work."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from qasync import QEventLoop

    # Disk work and some imports run on worker threads. Every call from Qt into Python
    # (painting a cell, a timer) must take the GIL from them; a shorter switch interval
    # bounds that wait at about 1 ms instead of 5 ms.
    sys.setswitchinterval(0.001)
    loop = QEventLoop(app)
    # Disk work (asyncio.to_thread) on plain Python threads: qasync's default executor
    # uses QThreads, which Qt warns about when they are torn down from another thread.
    pool = ThreadPoolExecutor(4, thread_name_prefix="ibdesk-io")
    loop.set_default_executor(pool)
    asyncio.set_event_loop(loop)
    return loop, pool


def run_window(home: str | None, *, sandbox: bool) -> int:
    app = make_application()
    first = show_snapshot(app, home, sandbox=sandbox)

    import asyncio

    from ibdesk import launch
    from ibdesk.ui.controller import Controller
    from ibdesk.ui.main_window import MainWindow
    from ibdesk.ui.stalls import StallWatch

    loop, pool = _event_loop(app)
    from ibdesk.ui.gc_guard import QtThreadCollector

    collector = QtThreadCollector()
    collector.start()
    with launch.runtime(home, sandbox=sandbox) as rt:
        from ibdesk import applog

        applog.install(rt.settings.home, console_level=logging.WARNING)
        log.info("ibdesk window started%s", " (sandbox)" if sandbox else "")
        controller = Controller(rt)
        window = MainWindow(controller)
        from ibdesk.ui import snapshot

        window.restore_state(snapshot.read_any(rt.settings.home))  # where it was last time
        from ibdesk.ui.crash import CrashReporter

        crash = CrashReporter(window, lambda path: controller.write_bundle(None, path))
        crash.install(loop)
        watch = StallWatch() if os.environ.get("IBDESK_DEBUG_STALLS") == "1" else None

        async def main() -> None:
            closed = asyncio.Event()
            controller.destroyed.connect(lambda *_: closed.set())
            window.closed.connect(closed.set)
            if watch is not None:
                watch.start()
            if first is None:
                window.show()
                await window.start()
            else:  # the snapshot stays up until the live rows are ready: no empty flash
                # its whole geometry, frame included (geometry() alone put the window's
                # top-left corner at the screen's, its title bar off screen)
                window.restoreGeometry(first.saveGeometry())
                await window.reload()
                window.show()
                first.close()
                window.controller.start_monitor()
            await closed.wait()
            if watch is not None:
                watch.stop()
                log.warning("event loop: %d stalls over 50 ms, worst %.0f ms",
                            len(watch.stalls), watch.worst * 1000)

        with loop:
            loop.run_until_complete(main())
        crash.uninstall()
    pool.shutdown(wait=True)
    collector.stop()
    return 0


__all__ = ["app_icon", "can_show_window", "make_application", "run_window"]
