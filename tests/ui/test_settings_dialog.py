"""The Settings dialog: saved values reach settings.toml and the running app; a bad value
is named and nothing is written; a value the environment decides is not editable."""

from __future__ import annotations

from pathlib import Path

import pytest
import qasync
from pydantic import ValidationError
from PySide6.QtWidgets import QDoubleSpinBox
from pytestqt.qtbot import QtBot

from ibdesk.config import Settings, load_settings
from ibdesk.services import open_runtime
from ibdesk.ui.controller import Controller
from ibdesk.ui.settings_dialog import SettingsDialog


def test_save_validate_and_environment(loop: qasync.QEventLoop, home: Path, qtbot: QtBot,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGITAL_OCEAN_SIZE", "s-2vcpu-2gb")
    rt = open_runtime(home)
    controller = Controller(rt)
    dialog = SettingsDialog(controller)
    qtbot.addWidget(dialog)
    assert not dialog.fields["size"].isEnabled()  # the environment decides it
    assert "DIGITAL_OCEAN_SIZE" in dialog.fields["size"].toolTip()

    dialog.fields["region"].setText("Amsterdam")
    assert not loop.run_until_complete(dialog.save())
    assert "DIGITAL_OCEAN_REGION" in dialog.error.text() and not rt.settings.settings_file.exists()

    dialog.fields["region"].setText("ams3")
    dialog.fields["check_interval"].setValue(120)
    assert dialog.changes() == {"region": "ams3", "check_interval": 120.0}
    assert loop.run_until_complete(dialog.save())
    assert rt.settings.region == "ams3" and rt.settings.check_interval == 120
    text = rt.settings.settings_file.read_text()
    assert 'region = "ams3"' in text and "size" not in text
    reloaded = load_settings(home)
    assert reloaded.region == "ams3" and reloaded.check_interval == 120
    assert controller.monitor.steady == 120  # the monitor follows
    loop.run_until_complete(controller.close())


def test_server_defaults_are_checked_with_digitalocean(loop: qasync.QEventLoop,
                                                        sandboxed: object, qtbot: QtBot) -> None:
    """Issue 14's walk-through: Settings saved a region DigitalOcean does not have (the
    wizard then quietly picked another one)."""
    from ibdesk.services.runtime import Runtime

    assert isinstance(sandboxed, Runtime)
    controller = Controller(sandboxed)
    dialog = SettingsDialog(controller)
    qtbot.addWidget(dialog)
    dialog.fields["region"].setText("xyz9")  # well-formed, but no such region
    assert not loop.run_until_complete(dialog.save())
    assert "region xyz9 is not available" in dialog.error.text()
    assert "nyc1" in dialog.error.text() and "Nothing was saved" in dialog.error.text()
    assert not sandboxed.settings.settings_file.exists()
    dialog.fields["region"].setText("ams3")
    dialog.fields["demo_size"].setText("s-99vcpu-1tb")
    assert not loop.run_until_complete(dialog.save())
    assert "Size for demo" in dialog.error.text() and "no server size s-99vcpu-1tb" \
        in dialog.error.text()
    dialog.fields["demo_size"].setText("s-1vcpu-1gb")
    assert loop.run_until_complete(dialog.save())
    assert sandboxed.settings.region == "ams3"


def test_start_at_login_is_a_checkbox(loop: qasync.QEventLoop, home: Path, qtbot: QtBot,
                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    entry = tmp_path / "xdg" / "autostart" / "ibdesk.desktop"
    controller = Controller(open_runtime(home))
    dialog = SettingsDialog(controller)
    qtbot.addWidget(dialog)
    loop.run_until_complete(dialog._reading)
    assert dialog.autostart.isEnabled() and not dialog.autostart.isChecked()
    dialog.autostart.setChecked(True)
    assert loop.run_until_complete(dialog.save())
    assert entry.is_file() and "Exec=" in entry.read_text()
    again = SettingsDialog(controller)
    qtbot.addWidget(again)
    loop.run_until_complete(again._reading)
    assert again.autostart.isChecked()
    again.autostart.setChecked(False)
    assert loop.run_until_complete(again.save())
    assert not entry.exists()


def test_the_dialogs_bounds_are_the_settings_models(loop: qasync.QEventLoop, home: Path,
                                                    qtbot: QtBot) -> None:
    """Each seconds box accepts exactly what the settings file accepts: its ends load, a
    step past either end is refused by the model (not only by the box)."""
    rt = open_runtime(home)
    controller = Controller(rt)
    dialog = SettingsDialog(controller)
    qtbot.addWidget(dialog)
    for key in ("check_interval", "check_interval_error"):
        spin = dialog.fields[key]
        assert isinstance(spin, QDoubleSpinBox)
        low, high = spin.minimum(), spin.maximum()
        for fine in (low, high):
            assert getattr(Settings.model_validate({key: fine}), key) == fine
        for bad in (low - 1, high + 1):
            with pytest.raises(ValidationError):
                Settings.model_validate({key: bad})
        assert spin.value() == getattr(Settings.model_validate({}), key)  # the default
    loop.run_until_complete(controller.close())


def test_alerts_in_settings_are_listed_and_tested(loop: qasync.QEventLoop, home: Path,
                                                  qtbot: QtBot) -> None:
    from tests.helpers.alerts import SECRET_PATH, webhook_receiver

    rt = open_runtime(home)
    controller = Controller(rt)
    dialog = SettingsDialog(controller)
    qtbot.addWidget(dialog)
    loop.run_until_complete(dialog._alerts_loading)
    assert dialog.alert_list.item(0).text() == "No alert target yet"
    assert not dialog.alert_test.isEnabled()
    with webhook_receiver() as (received, port):
        loop.run_until_complete(controller.add_alert_target(
            f"json://127.0.0.1:{port}/{SECRET_PATH}"))
        loop.run_until_complete(dialog._show_alert_targets())
        assert dialog.alert_list.item(0).text() == "1. json → 127.0.0.1"  # no secret path
        loop.run_until_complete(dialog._test_alert())
        assert dialog.alert_note.text() == "json → 127.0.0.1: sent"
        assert len(received) == 1
        dialog.alert_list.setCurrentRow(-1)
        loop.run_until_complete(dialog._remove_alert())  # nothing selected: nothing removed
        assert dialog.alert_note.text() == "Select the target to remove in the list first."
        assert loop.run_until_complete(controller.alert_targets()) == ["json → 127.0.0.1"]
        dialog.alert_list.setCurrentRow(0)
        loop.run_until_complete(dialog._remove_alert())
        assert loop.run_until_complete(controller.alert_targets()) == []
    loop.run_until_complete(controller.close())


def test_the_metrics_port_is_set_and_taken_off(loop: qasync.QEventLoop, home: Path,
                                               qtbot: QtBot) -> None:
    rt = open_runtime(home)
    controller = Controller(rt)
    dialog = SettingsDialog(controller)
    qtbot.addWidget(dialog)
    assert dialog.metrics_port.text() == "off" and dialog.changes() == {}
    dialog.metrics_port.setValue(9464)
    assert dialog.changes() == {"metrics_port": 9464}
    assert loop.run_until_complete(dialog.save())
    assert load_settings(home).metrics_port == 9464
    again = SettingsDialog(controller)
    qtbot.addWidget(again)
    again.metrics_port.setValue(0)  # off: the line leaves settings.toml
    assert loop.run_until_complete(again.save())
    assert load_settings(home).metrics_port is None
    assert "metrics_port" not in rt.settings.settings_file.read_text()
    loop.run_until_complete(controller.close())
