"""Settings: defaults for new accounts, how often accounts are checked, and where ibdesk
keeps things (shown, with a button to open the data folder).

A value set by an environment variable wins over the file, so its field is shown
read-only with the variable's name. Saving validates everything first and writes
`settings.toml` whole; an invalid value is named under the form and nothing is written.
"""

from __future__ import annotations

import asyncio

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ibdesk.config import overridden_by_environment
from ibdesk.domain.cadence import CADENCE, ERROR_BOUNDS, STEADY_BOUNDS
from ibdesk.domain.errors import IbdeskError
from ibdesk.ui import status_style
from ibdesk.ui.controller import Controller
from ibdesk.ui.tasks import spawn

TEXT_FIELDS = [("region", "Region", "DigitalOcean region slug, e.g. nyc1, ams3, sgp1"),
               ("size", "Size", "droplet size slug for paper and live, e.g. s-1vcpu-1gb"),
               ("demo_size", "Size for demo", "the smaller size used for demo logins"),
               ("image_id", "Image",
                "the seed's snapshot id, or an image slug such as ubuntu-24-04-x64")]
SECONDS_FIELDS = [("check_interval", "Check running accounts every", STEADY_BOUNDS),
                  ("check_interval_error", "Check accounts in error every", ERROR_BOUNDS)]
"""The bounds are the settings model's (domain.cadence): a value the dialog accepts is one
the settings file accepts."""


class SettingsDialog(QDialog):
    def __init__(self, controller: Controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.setWindowTitle("Settings")
        self.setMinimumWidth(560)
        layout = QVBoxLayout(self)
        self._build_new_accounts(layout)
        self._build_watching(layout)
        self._build_alerts(layout)
        self._build_where(layout)
        self._build_buttons(layout)

    def _build_new_accounts(self, layout: QVBoxLayout) -> None:
        settings = self.controller.rt.settings
        accounts = QGroupBox("New accounts (the Connect wizard starts with these)")
        form = QFormLayout(accounts)
        self.fields: dict[str, QLineEdit | QDoubleSpinBox] = {}
        for key, label, hint in TEXT_FIELDS:
            edit = QLineEdit(str(getattr(settings, key)))
            edit.setPlaceholderText(hint)
            edit.setToolTip(hint)
            edit.setAccessibleName(label)
            self._lock_if_overridden(key, edit)
            form.addRow(f"{label}:", edit)
            self.fields[key] = edit
        layout.addWidget(accounts)

    def _build_watching(self, layout: QVBoxLayout) -> None:
        settings = self.controller.rt.settings
        watching = QGroupBox("Watching")
        form = QFormLayout(watching)
        for key, label, bounds in SECONDS_FIELDS:
            spin = QDoubleSpinBox()
            spin.setRange(bounds.low, bounds.high)
            spin.setDecimals(0)
            spin.setSuffix(" s")
            spin.setValue(float(getattr(settings, key)))
            spin.setAccessibleName(label)
            self._lock_if_overridden(key, spin)
            form.addRow(f"{label}:", spin)
            self.fields[key] = spin
        note = QLabel("Accounts that are starting or logging in are checked every "
                      f"{CADENCE.fast:g} s.")
        note.setWordWrap(True)
        note.setEnabled(False)
        form.addRow(note)
        self.metrics_port = QSpinBox()
        self.metrics_port.setRange(0, 65535)
        self.metrics_port.setSpecialValueText("off")
        self.metrics_port.setValue(settings.metrics_port or 0)
        self.metrics_port.setAccessibleName("Prometheus metrics port")
        self.metrics_port.setToolTip("Serve Prometheus metrics on http://127.0.0.1:PORT/metrics "
                                     "while ibdesk watches (from its next start).")
        self._lock_if_overridden("metrics_port", self.metrics_port)
        form.addRow("Prometheus metrics on port:", self.metrics_port)
        self.budget = QDoubleSpinBox()
        self.budget.setRange(0, 100_000)
        self.budget.setDecimals(2)
        self.budget.setPrefix("$")
        self.budget.setSuffix(" a month")
        self.budget.setSpecialValueText("none")
        self.budget.setValue(settings.budget_monthly or 0)
        self.budget.setAccessibleName("Monthly budget")
        self.budget.setToolTip("The window warns when this month is on course to pass it; "
                               "an alert goes out when it is passed.")
        self._lock_if_overridden("budget_monthly", self.budget)
        form.addRow("Monthly budget:", self.budget)
        self.autostart = QCheckBox("Start ibdesk when I log in")
        self.autostart.setAccessibleName("Start ibdesk when I log in")
        self.autostart.setEnabled(False)  # until the current state is read
        self._autostart_was: bool | None = None
        form.addRow(self.autostart)
        layout.addWidget(watching)
        self._reading = asyncio.ensure_future(self._read_autostart())

    def _build_where(self, layout: QVBoxLayout) -> None:
        settings = self.controller.rt.settings
        where = QGroupBox("Where things are kept")
        form = QFormLayout(where)
        home = QHBoxLayout()
        home_label = self._path_label(str(settings.home))
        home.addWidget(home_label, 1)
        open_home = QPushButton("&Open folder")
        open_home.setAccessibleName("Open the data folder")
        open_home.clicked.connect(lambda: QDesktopServices.openUrl(
            QUrl.fromLocalFile(str(settings.home))))
        home.addWidget(open_home)
        form.addRow("Data folder:", home)
        form.addRow("Database:", self._path_label(
            settings.effective_database_url.removeprefix("sqlite:///")))
        form.addRow("Settings file:", self._path_label(str(settings.settings_file)))
        form.addRow("App log:", self._path_label(str(settings.home / "logs" / "ibdesk.log")))
        form.addRow("Secrets:", self._path_label(
            f"{self.controller.keyring_backend()} "
            f"(service “{self.controller.rt.secrets.service}”)"))
        form.addRow("DigitalOcean API:", self._path_label(settings.do_api_url))
        layout.addWidget(where)

    def _build_alerts(self, layout: QVBoxLayout) -> None:
        """Where ibdesk tells the trader about a refused login, a gateway down, …: Apprise
        URLs, kept in the keyring (shown by scheme and host only)."""
        box = QGroupBox("Alerts (e-mail, Slack, Discord, Telegram, ntfy, webhooks…)")
        column = QVBoxLayout(box)
        self.alert_list = QListWidget()
        self.alert_list.setAccessibleName("Alert targets")
        self.alert_list.setMaximumHeight(72)
        column.addWidget(self.alert_list)
        row = QHBoxLayout()
        self.alert_add = QPushButton("&Add…")
        self.alert_add.setToolTip("An Apprise URL, e.g. mailtos://user:app-password@gmail.com "
                                  "or ntfy://my-topic; it is kept in the keyring.")
        self.alert_add.clicked.connect(lambda: spawn(self._add_alert()))
        self.alert_remove = QPushButton("&Remove")
        self.alert_remove.clicked.connect(lambda: spawn(self._remove_alert()))
        self.alert_test = QPushButton("Send &test alert")
        self.alert_test.clicked.connect(lambda: spawn(self._test_alert()))
        for button in (self.alert_add, self.alert_remove, self.alert_test):
            row.addWidget(button)
        row.addStretch(1)
        column.addLayout(row)
        quiet = QHBoxLayout()
        quiet.addWidget(QLabel("Quiet hours:"))
        self.quiet_hours = QLineEdit(self.controller.rt.settings.quiet_hours or "")
        self.quiet_hours.setPlaceholderText("none, or e.g. 22:00-07:00")
        self.quiet_hours.setAccessibleName("Quiet hours")
        self.quiet_hours.setToolTip("Local hours in which alerts wait; sent when they end "
                                    "(a recovery meanwhile cancels its alert). From the "
                                    "monitor's next start.")
        self.quiet_hours.setMaximumWidth(180)
        self._lock_if_overridden("quiet_hours", self.quiet_hours)
        quiet.addWidget(self.quiet_hours)
        quiet.addStretch(1)
        column.addLayout(quiet)
        self.alert_note = QLabel("Sent once when a login is refused, a gateway goes down, a "
                                 "scheduled start fails or the budget is passed, and once "
                                 "when it recovers — while the window, the tray or the "
                                 "service runs.")
        self.alert_note.setWordWrap(True)
        self.alert_note.setAccessibleName("Alerts status")
        column.addWidget(self.alert_note)
        layout.addWidget(box)
        self._alerts_loading = asyncio.ensure_future(self._show_alert_targets())

    async def _show_alert_targets(self) -> None:
        try:
            targets = await self.controller.alert_targets()
        except IbdeskError as exc:
            self.alert_note.setText(exc.user_message)
            return
        self.alert_list.clear()
        for number, target in enumerate(targets, 1):
            self.alert_list.addItem(f"{number}. {target}")
        if not targets:
            self.alert_list.addItem("No alert target yet")
        self.alert_remove.setEnabled(bool(targets))
        self.alert_test.setEnabled(bool(targets))

    async def _add_alert(self) -> None:
        url, ok = QInputDialog.getText(
            self, "Add an alert target", "Apprise URL (kept in the keyring):",
            QLineEdit.EchoMode.Password)
        if not ok or not url.strip():
            return
        try:
            number = await self.controller.add_alert_target(url)
        except IbdeskError as exc:
            self.alert_note.setText(exc.user_message)
            return
        self.alert_note.setText(f"Target {number} added. Send a test alert to try it.")
        await self._show_alert_targets()

    async def _remove_alert(self) -> None:
        row = self.alert_list.currentRow()
        if row < 0:  # never a target the person did not point at
            self.alert_note.setText("Select the target to remove in the list first.")
            return
        try:
            gone = await self.controller.remove_alert_target(row + 1)
        except IbdeskError as exc:
            self.alert_note.setText(exc.user_message)
            return
        self.alert_note.setText(f"Removed {gone}.")
        await self._show_alert_targets()

    async def _test_alert(self) -> None:
        self.alert_test.setEnabled(False)
        self.alert_note.setText("Sending a test alert…")
        try:
            results = await self.controller.test_alert()
        except IbdeskError as exc:
            self.alert_note.setText(exc.user_message)
        else:
            self.alert_note.setText("; ".join(f"{target}: {'sent' if ok else 'NOT delivered'}"
                                              for target, ok in results))
        finally:
            self.alert_test.setEnabled(True)

    def _build_buttons(self, layout: QVBoxLayout) -> None:
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet(status_style.text_style("error"))
        self.error.setAccessibleName("Settings error")
        self.error.hide()
        layout.addWidget(self.error)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(lambda: spawn(self.save()))
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

    @staticmethod
    def _path_label(text: str) -> QLabel:
        label = QLabel(text)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        label.setWordWrap(True)
        return label

    @staticmethod
    def _lock_if_overridden(key: str, widget: QWidget) -> None:
        env = overridden_by_environment(key)
        if env:
            widget.setEnabled(False)
            widget.setToolTip(f"Set by the environment variable {env}; unset it to change "
                              "this here.")

    def changes(self) -> dict[str, object]:
        settings = self.controller.rt.settings
        out: dict[str, object] = {}
        for key, widget in self.fields.items():
            if not widget.isEnabled():
                continue
            value: object = (widget.text().strip() if isinstance(widget, QLineEdit)
                             else float(widget.value()))
            if value != getattr(settings, key):
                out[key] = value
        port = self.metrics_port.value() or None
        if self.metrics_port.isEnabled() and port != settings.metrics_port:
            out["metrics_port"] = port
        budget = round(self.budget.value(), 2) or None
        if self.budget.isEnabled() and budget != settings.budget_monthly:
            out["budget_monthly"] = budget
        quiet = self.quiet_hours.text().strip() or None
        if self.quiet_hours.isEnabled() and quiet != settings.quiet_hours:
            out["quiet_hours"] = quiet
        return out

    async def _read_autostart(self) -> None:
        from ibdesk import autostart

        try:
            enabled = await asyncio.to_thread(autostart.is_enabled)
        except OSError:
            return
        self._autostart_was = enabled
        self.autostart.setChecked(enabled)
        self.autostart.setEnabled(True)
        self.autostart.setToolTip(f"Kept in {autostart.where()}. ibdesk opens its window "
                                  "at login; closing it keeps ibdesk in the tray.")

    async def _save_autostart(self) -> None:
        from ibdesk import autostart

        wanted = self.autostart.isChecked()
        if self._autostart_was is None or wanted == self._autostart_was:
            return
        try:
            await asyncio.to_thread(autostart.enable if wanted else autostart.disable)
        except OSError as exc:
            raise IbdeskError(f"Could not change starting at login ({autostart.where()}: "
                              f"{exc.strerror or exc}).") from None
        self._autostart_was = wanted

    async def save(self) -> bool:
        changes = self.changes()
        try:
            await self._save_autostart()
        except IbdeskError as exc:
            self.error.setText(exc.user_message)
            self.error.show()
            return False
        if not changes:
            self.accept()
            return True
        self.buttons.setEnabled(False)
        try:
            await self.controller.save_settings(changes)
        except IbdeskError as exc:
            self.error.setText(exc.user_message)
            self.error.show()
            return False
        finally:
            self.buttons.setEnabled(True)
        self.accept()
        return True


__all__ = ["SettingsDialog"]
