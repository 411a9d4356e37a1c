"""The Schedule dialog shows both modes' prices before choosing and keeps what is chosen;
the Report view draws the report of the history; Settings keep the budget and quiet
hours."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import qasync
from pytestqt.qtbot import QtBot

from ibdesk.domain.schedule import ScheduleKind, ScheduleMode
from ibdesk.services import open_runtime
from ibdesk.services.runtime import Runtime
from ibdesk.ui.controller import Controller
from ibdesk.ui.report_dialog import ReportDialog
from ibdesk.ui.schedule_dialog import ScheduleDialog
from ibdesk.ui.settings_dialog import SettingsDialog
from tests.helpers.accounts import running_account


def _account(rt: Runtime) -> str:
    """Two days old, an hour down five hours in."""
    return running_account(rt.repository, timedelta(days=2),
                           (timedelta(hours=5), timedelta(hours=6),
                            "The gateway does not answer."))


def test_schedule_dialog_prices_both_modes_and_keeps_the_choice(
        loop: qasync.QEventLoop, home: Path, qtbot: QtBot) -> None:
    rt = open_runtime(home)
    account_id = _account(rt)
    controller = Controller(rt)
    view = loop.run_until_complete(controller.schedule_view(account_id))
    dialog = ScheduleDialog(controller, view)
    qtbot.addWidget(dialog)
    assert dialog.always.isChecked() and not dialog.hours_box.isEnabled()
    dialog.trading.setChecked(True)
    assert dialog.hours_box.isEnabled()
    assert "$6.00 a month" in dialog.power_off.text() and "in full" in dialog.power_off.text()
    assert "a month" in dialog.rebuild.text() and "$6.00" not in dialog.rebuild.text()
    for box in dialog.days:
        box.setChecked(False)
    assert not dialog.save_button.isEnabled() and "at least one day" in dialog.error.text()
    dialog.days[0].setChecked(True)
    dialog.days[2].setChecked(True)
    dialog.rebuild.setChecked(True)
    dialog.idle.setChecked(True)
    dialog.idle_hours.setValue(6)
    assert dialog.save_button.isEnabled()
    loop.run_until_complete(dialog._keep(dialog.schedule()))
    kept = rt.repository.require_account(account_id).schedule
    assert kept.kind is ScheduleKind.TRADING_HOURS and kept.mode is ScheduleMode.REBUILD
    assert kept.days == (0, 2) and kept.idle_after_minutes == 360
    assert any("Schedule set" in e.reason for e in rt.repository.history(account_id))
    loop.run_until_complete(controller.close())


def test_report_view_shows_the_figures_and_draws_both_charts(
        loop: qasync.QEventLoop, home: Path, qtbot: QtBot) -> None:
    rt = open_runtime(home)
    account_id = _account(rt)
    controller = Controller(rt)
    dialog = ReportDialog(controller)
    qtbot.addWidget(dialog)
    loop.run_until_complete(dialog._load())
    assert dialog.table.rowCount() == 1
    assert dialog.table.item(0, 0).text() == account_id
    uptime = float(dialog.table.item(0, 1).text().rstrip("%"))
    assert 97 < uptime < 98.5  # an hour down in two days
    assert dialog.table.item(0, 3).text() == "1"
    assert "The gateway does not answer." in dialog.outages.item(0).text()
    assert len(dialog.status_plot.getPlotItem().listDataItems()) == 1
    assert "so far" in dialog.summary.text()
    loop.run_until_complete(controller.close())


def test_settings_keep_the_budget_and_quiet_hours(loop: qasync.QEventLoop, home: Path,
                                                  qtbot: QtBot) -> None:
    rt = open_runtime(home)
    controller = Controller(rt)
    dialog = SettingsDialog(controller)
    qtbot.addWidget(dialog)
    dialog.budget.setValue(40)
    dialog.quiet_hours.setText("22:00-07:00")
    assert loop.run_until_complete(dialog.save())
    assert rt.settings.budget_monthly == 40.0 and rt.settings.quiet_hours == "22:00-07:00"
    dialog = SettingsDialog(controller)
    qtbot.addWidget(dialog)
    dialog.quiet_hours.setText("all night")
    assert not loop.run_until_complete(dialog.save())
    assert "IBDESK_QUIET_HOURS" in dialog.error.text() and "22:00-07:00" in dialog.error.text()
    loop.run_until_complete(controller.close())
