"""The table's filter: rows hidden in the view, over the model the view reads directly."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTableView
from pytestqt.qtbot import QtBot

from ibdesk.domain.enums import ServerStatus
from ibdesk.domain.models import Account
from ibdesk.ui.account_table_model import COL_ACCOUNT, COL_STATUS, AccountTableModel
from ibdesk.ui.row_filter import RowFilter
from tests.ui.test_account_table_model import account


def _table(qtbot: QtBot, n: int) -> tuple[QTableView, AccountTableModel, RowFilter]:
    model = AccountTableModel()
    model.set_rows([(account(i, ServerStatus.RUNNING if i % 2 else ServerStatus.ERROR),
                     None) for i in range(n)])
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    return view, model, RowFilter(view, model)


def _renamed(i: int, name: str) -> Account:
    return account(i).model_copy(update={"username": name, "do_droplet_name": f"{name}-1"})


def _shown(model: AccountTableModel, rows: RowFilter) -> list[str]:
    return [model.account_at(row).username for row in rows.shown_rows()]


def test_the_filter_matches_any_column_whatever_the_case(qtbot: QtBot) -> None:
    view, model, rows = _table(qtbot, 12)
    rows.set_text("USER1")
    assert _shown(model, rows) == ["user1", "user10", "user11"]
    assert view.isRowHidden(2) and not view.isRowHidden(1)
    rows.set_text("error")  # the status column's text
    assert _shown(model, rows) == [f"user{i}" for i in range(0, 12, 2)]
    rows.set_text("")
    assert len(_shown(model, rows)) == 12


def test_hidden_rows_follow_their_accounts_when_the_table_is_sorted(qtbot: QtBot) -> None:
    _, model, rows = _table(qtbot, 30)
    rows.set_text("user2")
    shown = _shown(model, rows)
    model.sort(COL_ACCOUNT, Qt.SortOrder.DescendingOrder)
    assert _shown(model, rows) == sorted(shown, reverse=True)
    model.sort(COL_STATUS)
    assert sorted(_shown(model, rows)) == sorted(shown)


def test_a_changed_or_reloaded_row_is_filtered_again(qtbot: QtBot) -> None:
    _, model, rows = _table(qtbot, 5)
    rows.set_text("user3")
    assert _shown(model, rows) == ["user3"]
    model.update_account(_renamed(4, "user33"), None)
    assert _shown(model, rows) == ["user3", "user33"]
    model.update_account(_renamed(3, "renamed"), None)
    assert _shown(model, rows) == ["user33"]
    # a reload (an account came or went) hides by the filter again, whatever moved
    model.set_rows([(account(i), None) for i in (30, 1, 3, 2)])
    assert _shown(model, rows) == ["user30", "user3"]
    rows.set_text("")
    model.set_rows([(account(i), None) for i in range(6)])
    assert len(_shown(model, rows)) == 6


def test_a_selected_row_filtered_out_is_no_longer_selected(qtbot: QtBot) -> None:
    view, model, rows = _table(qtbot, 5)
    view.selectRow(2)
    rows.set_text("user2")
    assert [i.row() for i in view.selectionModel().selectedRows()] == [2]
    rows.set_text("user4")
    assert view.selectionModel().selectedRows() == []


def test_a_sessions_news_does_not_run_the_filter(qtbot: QtBot) -> None:
    """Busy, tunnel and latency change no text: the filter is not run for them."""
    _, model, rows = _table(qtbot, 5)
    rows.set_text("user")
    runs: list[int] = []
    original = rows.matches
    rows.matches = lambda row: (runs.append(row), original(row))[1]  # type: ignore[method-assign]
    model.set_busy(account(1).id, "restart")
    model.add_latency(account(2).id, 41.0)
    assert runs == []
    model.update_account(_renamed(1, "user-one"), None)
    assert runs == [model.row_of(account(1).id)]


def test_a_sweep_of_unchanged_matches_does_not_recount(qtbot: QtBot) -> None:
    """Each updated row is filtered again, but the rows are counted (a walk over all of
    them) only when one was hidden or shown."""
    _, model, rows = _table(qtbot, 50)
    rows.set_text("user1")
    counts: list[tuple[int, int]] = []
    rows.counted.connect(lambda shown, total: counts.append((shown, total)))
    for i in range(50):
        model.update_account(account(i, ServerStatus.STOPPED), None)
    assert counts == []
    model.update_account(_renamed(20, "user1-now"), None)
    assert counts == [(12, 50)]
