"""The tray icon's summary and its notification on a turn to error."""

from __future__ import annotations

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from ibdesk.domain.enums import ServerStatus
from ibdesk.domain.models import Account
from ibdesk.ui.tray import Tray, summary


def _account(i: int, status: ServerStatus) -> Account:
    return Account(id=f"ib-paper-{i:08x}", username=f"user{i}", environment="paper",
                   do_server_status=status)


def test_summary_counts_each_status() -> None:
    assert summary([]) == "ibdesk — no account yet"
    accounts = [_account(1, ServerStatus.RUNNING), _account(2, ServerStatus.RUNNING),
                _account(3, ServerStatus.ERROR), _account(4, ServerStatus.STOPPED)]
    assert summary(accounts) == "ibdesk — 2 running, 1 stopped, 1 error"


def test_error_notification(qtbot: QtBot) -> None:
    window = QWidget()
    qtbot.addWidget(window)
    tray = Tray(QIcon(), window)
    tray.update_summary([_account(1, ServerStatus.ERROR)])
    assert tray.toolTip() == "ibdesk — 1 error"
    tray.notify_error(_account(1, ServerStatus.ERROR), "IBKR refused the password.")
    title, reason = tray.notifications[-1]
    assert "user1" in title and reason == "IBKR refused the password."


def test_the_menu_lists_each_accounts_status(qtbot: QtBot) -> None:
    window = QWidget()
    qtbot.addWidget(window)
    tray = Tray(QIcon(), window)
    tray.update_summary([_account(1, ServerStatus.RUNNING), _account(2, ServerStatus.ERROR)])
    texts = [a.text() for a in tray.contextMenu().actions() if not a.isSeparator()]
    assert texts == ["Show ibdesk", "user1 (paper) — Running", "user2 (paper) — Error",
                     "Quit ibdesk"]
    tray.update_summary([_account(i, ServerStatus.RUNNING) for i in range(20)])
    texts = [a.text() for a in tray.contextMenu().actions() if not a.isSeparator()]
    assert len(texts) == 2 + 15 + 1 and texts[-2] == "… and 5 more"
