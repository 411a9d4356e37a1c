"""What the window does with an error nothing caught: log it, say so, offer a bundle.

Without this an exception in a Qt slot is printed to a terminal nobody sees (PySide6
prints it and goes on), and one in a task the loop runs is logged only at collection.
The person is told in one sentence that something went wrong, that ibdesk keeps running
and that their servers are unaffected, and is offered "Save support bundle…" (the same
redacted bundle as in Diagnose), which is what support needs to find the cause. One box
at a time: a fault that repeats on every paint must not bury the window in boxes.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from ibdesk.domain.errors import IbdeskError
from ibdesk.ui import dialogs
from ibdesk.ui.tasks import spawn

log = logging.getLogger(__name__)

SaveBundle = Callable[[Path], Awaitable[Path]]


class CrashReporter:
    def __init__(self, parent: QWidget, save_bundle: SaveBundle) -> None:
        self._parent = parent
        self._save_bundle = save_bundle
        self._box: QMessageBox | None = None
        self._save_button: Any = None
        self.seen = 0
        self._previous_hook = sys.excepthook

    def install(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        sys.excepthook = self.excepthook
        if loop is not None:
            loop.set_exception_handler(self.loop_exception)

    def uninstall(self) -> None:
        if sys.excepthook == self.excepthook:
            sys.excepthook = self._previous_hook

    # ------------------------------------------------------------------ hooks
    def excepthook(self, kind: type[BaseException], error: BaseException,
                   tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            self._previous_hook(kind, error, tb)
            return
        log.error("unexpected error", exc_info=(kind, error, tb))
        self.report(error)

    def loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        if error is None:
            log.error("event loop: %s", context.get("message"))
            return
        log.error("event loop: %s", context.get("message"), exc_info=error)
        self.report(error)

    # ------------------------------------------------------------------ the box
    def report(self, error: BaseException) -> None:
        self.seen += 1
        if self._box is not None:  # one at a time; the log has every one
            return
        where = traceback.extract_tb(error.__traceback__)[-1:] if error.__traceback__ else []
        place = f" ({where[0].name} in {Path(where[0].filename).name})" if where else ""
        box = QMessageBox(
            QMessageBox.Icon.Critical, "Something went wrong",
            f"ibdesk hit an error it did not expect: {type(error).__name__}{place}. It keeps "
            "running, and your servers and their gateways are not affected.\n\n"
            "A support bundle (redacted: no passwords, keys or tokens) helps find the "
            "cause; the error is also in ibdesk's log.", QMessageBox.StandardButton.Close,
            self._parent)
        save = box.addButton("Save support &bundle…", QMessageBox.ButtonRole.ActionRole)
        box.finished.connect(self._closed)
        self._box, self._save_button = box, save
        box.open()

    def _closed(self, _result: int = 0) -> None:
        box, self._box = self._box, None
        if box is None:
            return
        chosen = box.clickedButton() is self._save_button
        box.deleteLater()
        if chosen:
            path, _ = QFileDialog.getSaveFileName(
                self._parent, "Save support bundle", str(Path.home() / "ibdesk-support.zip"),
                "Zip files (*.zip)")
            if path:
                spawn(self.save(Path(path)))

    async def save(self, path: Path) -> Path | None:
        try:
            written = await self._save_bundle(path)
        except Exception as exc:  # said to the person, and logged
            log.exception("could not write the support bundle")
            why = exc.user_message if isinstance(exc, IbdeskError) else type(exc).__name__
            dialogs.warning(self._parent, "Support bundle",
                            f"The bundle could not be written: {why}")
            return None
        dialogs.inform(self._parent, "Support bundle",
                       f"Saved {written}. Send it to whoever helps you with ibdesk.")
        return written

    @property
    def showing(self) -> QMessageBox | None:
        return self._box

    @property
    def save_button(self) -> Any:
        """The box's "Save support bundle…" button (None when no box is up)."""
        return self._save_button if self._box is not None else None


__all__ = ["CrashReporter"]
