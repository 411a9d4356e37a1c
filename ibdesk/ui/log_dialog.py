"""IBeam's log for one account, in the window (the CLI had `ibdesk logs`; the window had
nothing): the container's last lines over SSH, refreshed by hand or every few seconds
while "Follow" is on. Reading happens in the Controller's coroutines, never on the Qt
thread's time."""

from __future__ import annotations

import asyncio
import contextlib

from PySide6.QtCore import QTimer
from PySide6.QtGui import QFontDatabase, QTextCursor
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ibdesk.domain.errors import IbdeskError
from ibdesk.ui import status_style
from ibdesk.ui.controller import Controller

LINES = 500
FOLLOW_EVERY_MS = 3000


class LogDialog(QDialog):
    def __init__(self, controller: Controller, account_id: str, title: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.account_id = account_id
        self.setWindowTitle(f"IBeam log — {title}")
        self.resize(980, 560)
        layout = QVBoxLayout(self)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setAccessibleName("Log status")
        layout.addWidget(self.note)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setAccessibleName("IBeam log")
        layout.addWidget(self.text, 1)
        buttons = QHBoxLayout()
        self.follow = QCheckBox("&Follow (every 3 s)")
        self.follow.toggled.connect(self._on_follow)
        self.refresh_button = QPushButton("&Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        copy = QPushButton("&Copy all")
        copy.clicked.connect(lambda: QApplication.clipboard().setText(self.text.toPlainText()))
        close = QPushButton("C&lose")
        close.clicked.connect(self.close)
        buttons.addWidget(self.follow)
        buttons.addStretch(1)
        for button in (self.refresh_button, copy, close):
            buttons.addWidget(button)
        layout.addLayout(buttons)
        self._timer = QTimer(self)
        self._timer.setInterval(FOLLOW_EVERY_MS)
        self._timer.timeout.connect(self.refresh)
        self._task: asyncio.Future[None] | None = None

    def refresh(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self.load())

    async def load(self) -> None:
        self.refresh_button.setEnabled(False)
        if not self.text.toPlainText():
            self.note.setText("Reading IBeam's log from the server…")
        try:
            lines = await self.controller.ibeam_log(self.account_id, LINES)
        except IbdeskError as exc:
            self.note.setText(f"<span style='{status_style.text_style('error')}'>"
                              f"{exc.user_message}</span>")
            return
        finally:
            self.refresh_button.setEnabled(True)
        bar = self.text.verticalScrollBar()
        at_end = bar.value() >= bar.maximum() - 2
        self.text.setPlainText("\n".join(lines))
        if at_end or self.follow.isChecked():  # stays where the reader scrolled to
            self.text.moveCursor(QTextCursor.MoveOperation.End)
        self.note.setText(f"The last {len(lines)} lines of IBeam's output on the server "
                          "(`ibdesk logs` in a terminal; warnings and errors are IBeam's "
                          "own words).")

    def _on_follow(self, on: bool) -> None:
        if on:
            self.refresh()
            self._timer.start()
        else:
            self._timer.stop()

    def closeEvent(self, event: object) -> None:  # noqa: N802
        self._timer.stop()
        if self._task is not None and not self._task.done():
            self._task.cancel()
        with contextlib.suppress(RuntimeError):
            super().closeEvent(event)  # type: ignore[arg-type]


__all__ = ["LogDialog"]
