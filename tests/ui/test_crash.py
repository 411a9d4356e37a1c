"""An error nothing caught: logged, said once in a box, and a support bundle offered."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest
import qasync
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from ibdesk.ui import crash, dialogs
from tests.helpers import run_scenario, until


def _raised() -> tuple[type[BaseException], BaseException, object]:
    try:
        {}["missing"]
    except KeyError:
        kind, error, tb = sys.exc_info()
        assert kind is not None and error is not None
        return kind, error, tb
    raise AssertionError


def test_an_uncaught_error_is_logged_said_once_and_a_bundle_saved(
        loop: qasync.QEventLoop, qtbot: object, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    parent = QWidget()
    written: list[Path] = []
    said: list[str] = []

    async def save_bundle(path: Path) -> Path:
        path.write_bytes(b"PK")
        written.append(path)
        return path

    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(tmp_path / "b.zip"), "")))
    monkeypatch.setattr(dialogs, "inform", lambda _p, _t, text: said.append(text))
    reporter = crash.CrashReporter(parent, save_bundle)
    reporter.install(loop)
    try:
        async def scenario() -> None:
            with caplog.at_level(logging.ERROR, logger="ibdesk.ui.crash"):
                reporter.excepthook(*_raised())  # type: ignore[arg-type]
                reporter.excepthook(*_raised())  # type: ignore[arg-type]
            assert reporter.seen == 2 and len(caplog.records) == 2  # both logged...
            box = reporter.showing
            assert box is not None and "KeyError" in box.text()  # ...one box
            assert len(parent.findChildren(QMessageBox)) == 1
            assert "not affected" in box.text()
            reporter.save_button.click()
            await until(lambda: said)
            assert written == [tmp_path / "b.zip"] and "Saved" in said[0]
            assert reporter.showing is None
        run_scenario(loop, scenario())
        assert sys.excepthook == reporter.excepthook
    finally:
        reporter.uninstall()
    assert sys.excepthook != reporter.excepthook


def test_a_task_failure_reaches_the_same_box(loop: qasync.QEventLoop, qtbot: object) -> None:
    parent = QWidget()

    async def never(path: Path) -> Path:
        raise AssertionError("not asked for")

    reporter = crash.CrashReporter(parent, never)
    reporter.install(loop)
    try:
        loop.call_exception_handler({"message": "Task exception was never retrieved",
                                     "exception": RuntimeError("lost")})
        assert reporter.showing is not None and "RuntimeError" in reporter.showing.text()
        reporter.showing.done(0)
    finally:
        reporter.uninstall()
        loop.set_exception_handler(None)
