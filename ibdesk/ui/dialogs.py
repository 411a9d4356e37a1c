"""Message boxes that never block a coroutine.

`QMessageBox.warning()` and friends run a nested event loop until the box is closed.
Called from inside an asyncio task (a coroutine slot), that nested loop goes on
dispatching the qasync loop's callbacks while the task is still "being executed", and
every other task that wants to step meanwhile fails with `RuntimeError: Cannot enter into
task … while another task … is being executed` — a monitor cycle's status updates among
them, dropped while a dialog was open. So coroutines use these: a warning is shown
without waiting, a question is awaited (the box is opened window-modal, and its answer
completes a future). Plain (non-async) slots may still use the static functions.

Tests replace `warning` and `ask` here (the boxes would wait for a person).
"""

from __future__ import annotations

import asyncio

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget


def warning(parent: QWidget | None, title: str, text: str) -> QMessageBox:
    """Show a warning and return at once (the box closes itself when dismissed)."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok,
                      parent)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box


def inform(parent: QWidget | None, title: str, text: str) -> QMessageBox:
    """Say something done (a file written) and return at once."""
    box = QMessageBox(QMessageBox.Icon.Information, title, text,
                      QMessageBox.StandardButton.Ok, parent)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box


async def ask(parent: QWidget | None, title: str, text: str, *, default_yes: bool = False
              ) -> bool:
    """Yes or No, awaited without a nested event loop (No is the default unless said)."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text,
                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, parent)
    box.setDefaultButton(QMessageBox.StandardButton.Yes if default_yes
                         else QMessageBox.StandardButton.No)
    answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def finished(_result: int) -> None:
        if not answer.done():
            answer.set_result(box.clickedButton() is box.button(QMessageBox.StandardButton.Yes))

    box.finished.connect(finished)
    box.open()
    try:
        return await answer
    finally:
        box.deleteLater()


__all__ = ["ask", "inform", "warning"]
