"""An account's schedule: always on, or trading hours with what happens out of hours, and
idle shutdown; both modes' monthly cost shown before choosing (DigitalOcean bills a
powered-off droplet in full; only a destroyed one stops costing).

The figures are recomputed here as the person changes the form (domain.schedule, no I/O);
Save hands the schedule to the controller, which keeps it off the Qt thread.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from pydantic import ValidationError
from PySide6.QtCore import QTime
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QRadioButton,
    QSpinBox,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from ibdesk.domain.costs import REBUILD_MINUTES
from ibdesk.domain.errors import IbdeskError
from ibdesk.domain.schedule import (
    DAY_NAMES,
    Schedule,
    ScheduleKind,
    ScheduleMode,
    monthly_cost,
)
from ibdesk.ui import dialogs
from ibdesk.ui.controller import Controller
from ibdesk.ui.tasks import spawn

ZONES = ["America/New_York", "America/Chicago", "Europe/London", "Europe/Frankfurt",
         "Asia/Hong_Kong", "Asia/Tokyo", "Australia/Sydney"]
CALENDARS = ["NYSE", "XLON", "XETR", "XHKG", "XJPX", "XASX", "XTSE"]


def _qtime(value: time) -> QTime:
    return QTime(value.hour, value.minute)


class ScheduleDialog(QDialog):
    def __init__(self, controller: Controller, view: Any, parent: QWidget | None = None
                 ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.view = view
        self._ready = False  # the form's own signals while it is being built
        account = view.account
        self.setWindowTitle(f"Schedule — {account.username} ({account.environment.value})")
        self.setMinimumWidth(560)
        layout = QVBoxLayout(self)
        self._build_kind(layout, view.schedule)
        self._build_hours(layout, view.schedule)
        self._build_mode(layout, view.schedule)
        self._build_idle(layout, view.schedule)
        self.note = QLabel(
            "A schedule runs only while the ibdesk window (or its tray icon) or the ibdesk "
            "service runs (<code>ibdesk service install</code>). A start it misses is "
            "reported, never silent.")
        self.note.setWordWrap(True)
        layout.addWidget(self.note)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c0392b")
        self.error.hide()
        layout.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._save)
        buttons.rejected.connect(self.reject)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        layout.addWidget(buttons)
        self._ready = True
        self._changed()

    # ------------------------------------------------------------------ the form
    def _build_kind(self, layout: QVBoxLayout, schedule: Schedule) -> None:
        row = QHBoxLayout()
        self.always = QRadioButton("&Always on")
        self.trading = QRadioButton("&Trading hours only")
        group = QButtonGroup(self)
        for button in (self.always, self.trading):
            group.addButton(button)
            row.addWidget(button)
            button.toggled.connect(self._changed)
        row.addStretch(1)
        (self.trading if schedule.scheduled else self.always).setChecked(True)
        layout.addLayout(row)

    def _build_hours(self, layout: QVBoxLayout, schedule: Schedule) -> None:
        self.hours_box = QGroupBox("Trading hours")
        form = QFormLayout(self.hours_box)
        days = QHBoxLayout()
        self.days: list[QCheckBox] = []
        for number, name in enumerate(DAY_NAMES):
            box = QCheckBox(name.capitalize())
            box.setChecked(number in schedule.days)
            box.toggled.connect(self._changed)
            days.addWidget(box)
            self.days.append(box)
        form.addRow("Days:", days)
        session = QHBoxLayout()
        self.opens = QTimeEdit(_qtime(schedule.opens))
        self.closes = QTimeEdit(_qtime(schedule.closes))
        for edit, name in ((self.opens, "Opens"), (self.closes, "Closes")):
            edit.setDisplayFormat("HH:mm")
            edit.setAccessibleName(name)
            edit.timeChanged.connect(self._changed)
        session.addWidget(self.opens)
        session.addWidget(QLabel("to"))
        session.addWidget(self.closes)
        session.addStretch(1)
        form.addRow("Session:", session)
        self.zone = QComboBox()
        self.zone.setEditable(True)
        self.zone.addItems(ZONES if schedule.tz in ZONES else [schedule.tz, *ZONES])
        self.zone.setCurrentText(schedule.tz)
        self.zone.setAccessibleName("Time zone")
        self.zone.currentTextChanged.connect(self._changed)
        form.addRow("Time zone:", self.zone)
        self.calendar = QComboBox()
        self.calendar.addItems(CALENDARS if schedule.calendar in CALENDARS
                               else [schedule.calendar, *CALENDARS])
        self.calendar.setCurrentText(schedule.calendar)
        self.calendar.setToolTip("Whose holidays are skipped (the holidays package's "
                                 "financial calendars)")
        self.calendar.currentTextChanged.connect(self._changed)
        form.addRow("Holidays of:", self.calendar)
        self.lead = QSpinBox()
        self.lead.setMaximumWidth(240)
        self.lead.setRange(0, 600)
        self.lead.setSuffix(" min before the open")
        self.lead.setValue(schedule.lead_minutes)
        self.lead.setToolTip("A rebuild takes minutes (about 5-10 on a real droplet): the "
                             "server comes up this early")
        self.lead.valueChanged.connect(self._changed)
        form.addRow("Up:", self.lead)
        layout.addWidget(self.hours_box)

    def _build_mode(self, layout: QVBoxLayout, schedule: Schedule) -> None:
        self.mode_box = QGroupBox("Out of hours")
        box = QVBoxLayout(self.mode_box)
        self.power_off = QRadioButton()
        self.rebuild = QRadioButton()
        group = QButtonGroup(self)
        for button in (self.power_off, self.rebuild):
            group.addButton(button)
            box.addWidget(button)
            button.toggled.connect(self._changed)
        (self.rebuild if schedule.mode is ScheduleMode.REBUILD else self.power_off
         ).setChecked(True)
        self.cost = QLabel()
        self.cost.setWordWrap(True)
        self.cost.setAccessibleName("Monthly cost")
        box.addWidget(self.cost)
        layout.addWidget(self.mode_box)

    def _build_idle(self, layout: QVBoxLayout, schedule: Schedule) -> None:
        row = QHBoxLayout()
        self.idle = QCheckBox("Take the server down when its tunnel carried nothing for")
        self.idle.setChecked(schedule.idle_after_minutes is not None)
        self.idle.setToolTip("Idle means no bytes through ibdesk's tunnel: ibdesk cannot see "
                             "the gateway used any other way. A notification comes 15 "
                             "minutes before.")
        self.idle_hours = QSpinBox()
        self.idle_hours.setRange(1, 72)
        self.idle_hours.setSuffix(" h")
        self.idle_hours.setValue(max(1, (schedule.idle_after_minutes or 480) // 60))
        self.idle.toggled.connect(self._changed)
        self.idle_hours.valueChanged.connect(self._changed)
        row.addWidget(self.idle)
        row.addWidget(self.idle_hours)
        row.addStretch(1)
        layout.addLayout(row)

    # ------------------------------------------------------------------ what it says
    def schedule(self) -> Schedule:
        """The form as a schedule (ValidationError names what cannot be)."""
        opens, closes = self.opens.time(), self.closes.time()
        return Schedule(
            kind=ScheduleKind.TRADING_HOURS if self.trading.isChecked()
            else ScheduleKind.ALWAYS_ON,
            days=tuple(n for n, box in enumerate(self.days) if box.isChecked()),
            opens=time(opens.hour(), opens.minute()), closes=time(closes.hour(),
                                                                  closes.minute()),
            tz=self.zone.currentText().strip(), lead_minutes=self.lead.value(),
            calendar=self.calendar.currentText(),
            mode=ScheduleMode.REBUILD if self.rebuild.isChecked() else ScheduleMode.POWER_OFF,
            idle_after_minutes=self.idle_hours.value() * 60 if self.idle.isChecked() else None)

    def _changed(self, *_: object) -> None:
        if not self._ready:
            return
        trading = self.trading.isChecked()
        self.hours_box.setEnabled(trading)
        self.mode_box.setEnabled(trading)
        self.idle_hours.setEnabled(self.idle.isChecked())
        try:
            schedule = self.schedule()
        except ValidationError as exc:
            first = exc.errors()[0]
            self.error.setText(first["msg"].removeprefix("Value error, ").capitalize() + ".")
            self.error.show()
            self.save_button.setEnabled(False)
            return
        self.error.hide()
        self.save_button.setEnabled(True)
        price = self.view.price
        if price is None:
            self.power_off.setText("Power off — billed in full while off")
            self.rebuild.setText("Rebuild — destroyed after the close, created again before "
                                 "the open")
            self.cost.setText("The prices are not known yet (the server was not created).")
            return
        month = monthly_cost(schedule.model_copy(update={"kind": ScheduleKind.TRADING_HOURS}),
                             price, datetime.now(UTC), rebuild_minutes=REBUILD_MINUTES)
        self.power_off.setText(f"&Power off — ${month.power_off:.2f} a month: DigitalOcean "
                               "bills a powered-off server in full; back in a minute or two")
        self.rebuild.setText(f"&Rebuild — ${month.rebuild:.2f} a month ({month.servers} "
                             "rebuilds): destroyed after the close, created again before the "
                             "open; takes minutes")
        always = month.always_on
        chosen = month.of(schedule) if trading else always
        self.cost.setText(f"This month: <b>${chosen:.2f}</b> as set; ${always:.2f} always on. "
                          f"DigitalOcean's prices for {self.view.account.do_size or 'its size'}"
                          f": ${price.hourly:g} an hour, ${price.monthly:g} a month at most.")

    def _save(self) -> None:
        try:
            schedule = self.schedule()
        except ValidationError:
            return
        spawn(self._keep(schedule))

    async def _keep(self, schedule: Schedule) -> None:
        self.save_button.setEnabled(False)
        try:
            await self.controller.set_schedule(self.view.account.id, schedule)
        except IbdeskError as exc:
            dialogs.warning(self, "Schedule", exc.user_message)
            self.save_button.setEnabled(True)
            return
        self.accept()


__all__ = ["ScheduleDialog"]
