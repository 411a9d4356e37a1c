"""The Diagnose view: `ibdesk doctor` live, for one account (or for this computer and
the DigitalOcean token when no account is given).

Each check appears the moment it finishes, with its state as icon + word (not colour
alone), the evidence, the fix in one sentence and, for the fixes ibdesk can apply
itself, a button. A support bundle can be saved from here. The dialog only talks to
the Controller.

Signals:
    password_requested(str): account id (the main window asks for the new password)
"""

from __future__ import annotations

import asyncio
import contextlib
from html import escape
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ibdesk.domain.diagnosis import CheckResult, CheckState, FixAction
from ibdesk.domain.errors import IbdeskError
from ibdesk.ui import dialogs, status_style
from ibdesk.ui.controller import Controller
from ibdesk.ui.tasks import spawn

STATE_TEXT = {CheckState.OK: "OK", CheckState.WARNING: "Warning", CheckState.FAILED: "Failed",
              CheckState.SKIPPED: "Skipped"}
STATE_KIND = {CheckState.OK: "ok", CheckState.WARNING: "warning",
              CheckState.FAILED: "error", CheckState.SKIPPED: "muted"}


def state_colour(state: CheckState) -> str:
    return status_style.text_colour(STATE_KIND[state])


ICON_COLOUR = {CheckState.OK: "#2f855a", CheckState.WARNING: "#b7791f",
               CheckState.FAILED: "#c53030", CheckState.SKIPPED: "#718096"}
"""Icon fills carry white glyphs, so they stay the same on light and dark themes."""
COL_STATE, COL_CHECK, COL_EVIDENCE, COL_FIX = range(4)


def state_icon(state: CheckState, size: int = 16) -> QIcon:
    """A shape per state (tick, exclamation, cross, dash) so it reads without colour."""
    icon = QIcon()
    for scale in (1, 2):
        px = QPixmap(size * scale, size * scale)
        px.fill(Qt.GlobalColor.transparent)
        p = QPainter(px)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setBrush(QColor(ICON_COLOUR[state]))
        p.setPen(Qt.PenStyle.NoPen)
        s = size * scale
        p.drawEllipse(0, 0, s, s)
        p.setPen(QColor("white"))
        font = p.font()
        font.setBold(True)
        font.setPixelSize(int(s * 0.7))
        p.setFont(font)
        glyph = {CheckState.OK: "✓", CheckState.WARNING: "!", CheckState.FAILED: "✕",
                 CheckState.SKIPPED: "–"}[state]
        p.drawText(px.rect(), Qt.AlignmentFlag.AlignCenter, glyph)
        p.end()
        icon.addPixmap(px)
    return icon


class DiagnoseDialog(QDialog):
    password_requested = Signal(str)

    def __init__(self, controller: Controller, account_id: str | None, title: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.account_id = account_id
        self.results: list[CheckResult] = []
        self._task: asyncio.Task[None] | None = None
        self.setWindowTitle(f"Diagnose — {title}")
        self.resize(980, 560)
        layout = QVBoxLayout(self)
        self.heading = QLabel()
        self.heading.setWordWrap(True)
        self.heading.setAccessibleName("Diagnosis summary")
        layout.addWidget(self.heading)
        self._build_tree(layout)
        self._build_detail(layout)
        self._build_buttons(layout)

    def _build_tree(self, layout: QVBoxLayout) -> None:
        """One row per check: its state, name, what ibdesk saw and what to do."""
        self.tree = QTreeWidget()
        self.tree.setColumnCount(4)
        self.tree.setHeaderLabels(["State", "Check", "What ibdesk saw", "What to do"])
        self.tree.setRootIsDecorated(False)
        self.tree.setWordWrap(True)
        self.tree.setUniformRowHeights(False)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setAccessibleName("Checks")
        self.tree.setIconSize(QSize(16, 16))
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(COL_STATE, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_CHECK, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(COL_EVIDENCE, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(COL_FIX, QHeaderView.ResizeMode.Interactive)
        self.tree.setColumnWidth(COL_CHECK, 250)
        self.tree.setColumnWidth(COL_FIX, 300)
        # a line too long for its cell ends in "…" (all of it is in the pane below and in
        # the tooltip), and rows are laid out again when a column is resized
        self.tree.setTextElideMode(Qt.TextElideMode.ElideRight)
        header.sectionResized.connect(lambda *_: self.tree.doItemsLayout())
        layout.addWidget(self.tree, 1)

    def _build_detail(self, layout: QVBoxLayout) -> None:
        """The selected check in full (a cell shows one line), and the progress bar."""
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.detail.setTextFormat(Qt.TextFormat.RichText)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detail.setFrameShape(QFrame.Shape.StyledPanel)
        self.detail.setContentsMargins(8, 6, 8, 6)
        self.detail.setMinimumHeight(64)
        self.detail.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.detail.setAccessibleName("Selected check")
        layout.addWidget(self.detail)
        self.tree.currentItemChanged.connect(self._show_detail)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setAccessibleName("Checks running")
        layout.addWidget(self.progress)

    def _build_buttons(self, layout: QVBoxLayout) -> None:
        buttons = QHBoxLayout()
        self.fix_buttons = QHBoxLayout()
        buttons.addLayout(self.fix_buttons)
        buttons.addStretch(1)
        self.include_username = QCheckBox("Include IBKR username in the bundle")
        self.include_username.setAccessibleName("Include IBKR username in the bundle")
        self.bundle_button = QPushButton("Save support &bundle…")
        self.bundle_button.clicked.connect(self._on_bundle)
        self.rerun_button = QPushButton("Run &again")
        self.rerun_button.clicked.connect(self.run)
        close = QPushButton("&Close")
        close.clicked.connect(self.close)
        for widget in (self.include_username, self.bundle_button, self.rerun_button, close):
            buttons.addWidget(widget)
        layout.addLayout(buttons)

    # ------------------------------------------------------------------ running
    def run(self) -> None:
        if self._task is not None and not self._task.done():
            return
        self._task = asyncio.ensure_future(self.run_checks())

    async def run_checks(self) -> None:
        self.results = []
        self.tree.clear()
        self._clear_fixes()
        self.progress.show()
        self.rerun_button.setEnabled(False)
        self.heading.setText("Checking… each line appears as its check finishes.")
        try:
            await self.controller.diagnose(self.account_id, self._add)
        except IbdeskError as exc:
            self.heading.setText(f"<b>Diagnosis stopped:</b> {exc.user_message}")
        else:
            self._summarise()
        finally:
            self.progress.hide()
            self.rerun_button.setEnabled(True)

    def recheck_after_login(self, timeout: float = 180.0, poll: float = 1.0) -> None:
        """After a new password: wait for IBeam's login with it to end (logged in, or
        refused again), then check — checking at once found the old refusal still there."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = asyncio.ensure_future(self._wait_then_check(timeout, poll))

    async def _wait_then_check(self, timeout: float, poll: float) -> None:
        from ibdesk.domain.models import ServerStatus

        self.tree.clear()
        self._clear_fixes()
        self.progress.show()
        self.rerun_button.setEnabled(False)
        loop = asyncio.get_running_loop()
        started = loop.time()
        while self.account_id is not None and loop.time() - started < timeout:
            self.heading.setText("Waiting for IBeam to log in with the new password… "
                                 f"({loop.time() - started:.0f} s; usually under a minute)")
            found = await self.controller.account(self.account_id)
            if found is None:
                break
            account, _ = found
            if account.do_server_status is ServerStatus.RUNNING or \
                    account.login_refused is not None:
                break
            await asyncio.sleep(poll)
        await self.run_checks()

    def _add(self, result: CheckResult) -> None:
        self.results.append(result)
        item = QTreeWidgetItem(["", result.title, result.evidence,
                                result.fix if result.state in (CheckState.FAILED,
                                                               CheckState.WARNING) else ""])
        item.setIcon(COL_STATE, state_icon(result.state))
        item.setText(COL_STATE, STATE_TEXT[result.state])
        item.setForeground(COL_STATE, QBrush(QColor(state_colour(result.state))))
        for col in (COL_EVIDENCE, COL_FIX):
            item.setToolTip(col, item.text(col))
        item.setData(COL_STATE, Qt.ItemDataRole.AccessibleTextRole,
                     f"{STATE_TEXT[result.state]}: {result.title}")
        self.tree.addTopLevelItem(item)
        self.heading.setText(f"Checking… {len(self.results)} done.")

    def _show_detail(self, item: QTreeWidgetItem | None, *_: object) -> None:
        index = self.tree.indexOfTopLevelItem(item) if item is not None else -1
        if not 0 <= index < len(self.results):
            self.detail.setText("Select a check to read all of it.")
            return
        r = self.results[index]
        colour = state_colour(r.state)
        text = (f"<b style='color:{colour}'>{STATE_TEXT[r.state]}</b> — <b>{escape(r.title)}"
                f"</b><br>{escape(r.evidence)}")
        if r.fix and r.state in (CheckState.FAILED, CheckState.WARNING):
            text += f"<br><b>What to do:</b> {escape(r.fix)}"
        self.detail.setText(text)

    def _summarise(self) -> None:
        failed = [r for r in self.results if r.state is CheckState.FAILED]
        warned = [r for r in self.results if r.state is CheckState.WARNING]
        if failed:
            # the cause (a log finding) before its symptoms (container stopped, not ready)
            first = next((r for r in failed if r.key.startswith("log:")), failed[0])
            self.heading.setText(
                f"<b style='color:{state_colour(CheckState.FAILED)}'>{len(failed)} problem"
                f"{'s' if len(failed) > 1 else ''} found.</b> Start with: {escape(first.title)}"
                f" — {escape(first.fix or first.evidence)}")
            item = self.tree.topLevelItem(self.results.index(first))
            if item is not None:
                self.tree.setCurrentItem(item)
        elif warned:
            self.heading.setText(f"<b style='color:{state_colour(CheckState.WARNING)}'>No "
                                 f"failures, {len(warned)} warning"
                                 f"{'s' if len(warned) > 1 else ''}.</b>")
        else:
            self.heading.setText(f"<b style='color:{state_colour(CheckState.OK)}'>All "
                                 f"{len(self.results)} checks passed.</b>")
        actions: list[FixAction] = []
        for result in failed + warned:
            if result.action is not None and result.action not in actions:
                if result.action is FixAction.NEW_PASSWORD and self.account_id is None:
                    continue
                actions.append(result.action)
        for action in actions:
            button = QPushButton(action.label)
            button.setAccessibleName(action.label.rstrip("…"))
            button.setProperty("fix_action", action.value)
            button.clicked.connect(lambda _=False, a=action: self._on_fix(a))
            self.fix_buttons.addWidget(button)

    def _clear_fixes(self) -> None:
        while self.fix_buttons.count():
            item = self.fix_buttons.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()

    def fix_button(self, action: FixAction) -> QPushButton | None:
        for i in range(self.fix_buttons.count()):
            item = self.fix_buttons.itemAt(i)
            widget = item.widget() if item is not None else None
            if isinstance(widget, QPushButton) and widget.property("fix_action") == action.value:
                return widget
        return None

    # ------------------------------------------------------------------ fixes, bundle
    def _on_fix(self, action: FixAction) -> None:
        if action is FixAction.NEW_PASSWORD and self.account_id is not None:
            self.password_requested.emit(self.account_id)
            return
        spawn(self.apply_fix(action))

    async def apply_fix(self, action: FixAction) -> None:
        self.heading.setText(f"{action.label}…")
        self._clear_fixes()
        self.progress.show()
        try:
            said = await self.controller.apply_fix(action, self.account_id)
        except IbdeskError as exc:
            self.progress.hide()
            dialogs.warning(self, action.label, exc.user_message)
            self._summarise()
            return
        self.heading.setText(said)
        await self.run_checks()
        self.heading.setText(said + " " + self.heading.text())

    def _on_bundle(self) -> None:
        name = f"ibdesk-support-{self.account_id or 'computer'}.zip"
        path, _ = QFileDialog.getSaveFileName(self, "Save support bundle",
                                              str(Path.home() / name), "Zip files (*.zip)")
        if path:
            spawn(self.save_bundle(Path(path)))

    async def save_bundle(self, path: Path) -> Path | None:
        self.bundle_button.setEnabled(False)
        self.progress.show()
        self.heading.setText("Writing the support bundle (runs the checks again)…")
        try:
            written = await self.controller.write_bundle(
                self.account_id, path, include_username=self.include_username.isChecked())
        except IbdeskError as exc:
            dialogs.warning(self, "Support bundle", exc.user_message)
            return None
        finally:
            self.bundle_button.setEnabled(True)
            self.progress.hide()
        self.heading.setText(f"Saved {written}. Secrets are redacted"
                             + ("." if self.include_username.isChecked()
                                else "; the IBKR username is hidden."))
        return written

    def closeEvent(self, event: object) -> None:  # noqa: N802
        if self._task is not None and not self._task.done():
            self._task.cancel()
        with contextlib.suppress(RuntimeError):
            super().closeEvent(event)  # type: ignore[arg-type]


__all__ = ["DiagnoseDialog", "state_icon"]
