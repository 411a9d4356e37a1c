"""The table model on its own, without a window."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from PySide6.QtCore import QModelRoleData, QSortFilterProxyModel, Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QTableView
from pytestqt.qtbot import QtBot

from ibdesk.domain.enums import Environment, ServerStatus
from ibdesk.domain.models import Account, StatusDetail
from ibdesk.ui.account_table_model import (
    COL_ACCOUNT,
    COL_CHECKED,
    COL_COST,
    COL_GATEWAY,
    COL_STATUS,
    HEADERS,
    AccountRole,
    AccountTableModel,
    age,
)


def account(i: int, status: ServerStatus = ServerStatus.RUNNING, **kw: object) -> Account:
    return Account(id=f"ib-paper-{i:08x}", username=f"user{i}", environment="paper",
                   do_server_status=status, do_droplet_id=1000 + i,
                   do_droplet_name=f"user{i}-ib-paper-1", price_monthly=6.0,
                   **kw)


def test_rows_columns_and_roles() -> None:
    model = AccountTableModel()
    detail = StatusDetail(reason="The gateway is logged in to IBKR.", authenticated=True,
                          connected=True, competing=True, warning="Another session…")
    model.set_rows([(account(1), detail), (account(2, ServerStatus.ERROR), None)])
    assert model.rowCount() == 2 and model.columnCount() == len(HEADERS)
    index = model.index(0, COL_STATUS)
    assert model.data(index) == "Running"
    assert model.data(index, Qt.ItemDataRole.DecorationRole) is not None  # icon, not colour only
    assert model.data(index, Qt.ItemDataRole.AccessibleTextRole) == "Running"
    assert "logged in" in model.data(index, Qt.ItemDataRole.ToolTipRole)
    assert model.data(model.index(0, COL_GATEWAY)) == "Logged in · competing"
    assert model.data(model.index(0, COL_COST)) == "$6"
    assert model.data(index, AccountRole.ACCOUNT).id == "ib-paper-00000001"
    assert model.data(model.index(1, COL_STATUS)) == "Error"


def test_an_update_touches_only_its_row(qtbot: QtBot) -> None:
    model = AccountTableModel()
    model.set_rows([(account(i), None) for i in range(1000)])
    changed = account(500, ServerStatus.STOPPED)
    with qtbot.waitSignal(model.dataChanged, timeout=1000) as blocker:
        assert model.update_account(changed, None)
    top, bottom = blocker.args[0], blocker.args[1]
    assert (top.row(), bottom.row()) == (500, 500)
    assert model.data(model.index(500, COL_STATUS)) == "Stopped"
    assert not model.update_account(account(5000), None)


def test_the_sort_role_orders_rows_through_a_proxy_too() -> None:
    """The table sorts in the model, but AccountRole.SORT stays a proper sort key."""
    model = AccountTableModel()
    model.set_rows([(account(3, ServerStatus.ERROR), None),
                    (account(1, ServerStatus.RUNNING), None),
                    (account(2, ServerStatus.PROVISIONING), None)])
    proxy = QSortFilterProxyModel()
    proxy.setSourceModel(model)
    proxy.setSortRole(AccountRole.SORT)
    proxy.sort(COL_STATUS)
    order = [proxy.data(proxy.index(r, 0), AccountRole.ACCOUNT).username for r in range(3)]
    assert order == ["user2", "user1", "user3"]  # provisioning < running < error


def test_a_painted_cell_asks_only_for_what_it_shows() -> None:
    """Roles the model never sets get None before any work, and a row's texts are made
    once until it changes: a paint of the visible rows asks for seven roles a cell."""
    model = AccountTableModel()
    model.set_rows([(account(1), None), (account(2), None)])
    made = 0
    original = model._display

    def counted(*args: Any) -> Any:
        nonlocal made
        made += 1
        return original(*args)

    model._display = counted  # type: ignore[method-assign]
    cell = model.index(0, COL_ACCOUNT)
    for role in (Qt.ItemDataRole.TextAlignmentRole, Qt.ItemDataRole.BackgroundRole,
                 Qt.ItemDataRole.CheckStateRole):
        assert model.data(cell, role) is None
    assert made == 0
    assert model.data(cell) == "user1"
    assert model.data(model.index(0, COL_COST)) == "$6"
    assert made == len(HEADERS)  # the row's texts, once
    model.update_account(account(1).model_copy(update={"username": "renamed"}), None)
    assert model.data(cell) == "renamed"
    assert model.data(model.index(1, COL_ACCOUNT)) == "user2"


def test_age_words() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert age(None) == "never"
    assert age(now - timedelta(seconds=5), now) == "5 s ago"
    assert age(now - timedelta(minutes=3), now) == "3 min ago"
    assert age(now - timedelta(hours=2), now) == "2 h ago"


def test_a_fresh_read_touches_only_the_rows_that_changed() -> None:
    model = AccountTableModel()
    model.set_rows([(account(i), None) for i in range(3)])
    touched: list[int] = []
    model.dataChanged.connect(lambda top, _bottom, *_: touched.append(top.row()))
    assert model.merge([(account(0), None), (account(1, ServerStatus.STOPPED), None),
                        (account(2), None)])
    assert touched == [1] and model.account_at(1).do_server_status is ServerStatus.STOPPED
    assert not model.merge([(account(0), None)])  # an account went: the caller re-reads
    assert model.rowCount() == 3


def test_a_monitor_result_is_applied_in_memory_when_it_changes_something() -> None:
    from types import SimpleNamespace

    model = AccountTableModel()
    at = datetime(2026, 12, 1, tzinfo=UTC)
    model.set_rows([(account(1, do_last_status_check=at), None)])
    same = SimpleNamespace(account_id=account(1).id, status=ServerStatus.RUNNING, at=at,
                           fields={}, detail=None)
    assert not model.apply_update(same)
    moved = SimpleNamespace(account_id=account(1).id, status=ServerStatus.ERROR, at=at,
                            fields={"do_ip_address": "198.18.0.9", "unknown": 1},
                            detail=StatusDetail(reason="The gateway does not answer."))
    assert model.apply_update(moved)
    shown = model.account_at(0)
    assert shown.do_server_status is ServerStatus.ERROR and shown.do_ip_address == "198.18.0.9"
    assert model.data(model.index(0, 0), AccountRole.DETAIL).reason.startswith("The gateway")
    assert not model.apply_update(SimpleNamespace(account_id="ib-paper-ffffffff", status=None,
                                                  at=at, fields={}, detail=None))


def _changes(model: AccountTableModel) -> list[tuple[int, int, list[int]]]:
    seen: list[tuple[int, int, list[int]]] = []
    model.dataChanged.connect(lambda top, bottom, roles=(): seen.append(
        (top.row(), bottom.row(), list(roles))))
    return seen


def test_the_session_lives_in_the_model_and_touches_only_its_row() -> None:
    """Busy, tunnel, resumable and latency were controller dicts the window read; now
    the model's `Session` role, each change one row's dataChanged with that role."""
    model = AccountTableModel()
    model.set_rows([(account(1), None), (account(2), None)])
    seen = _changes(model)
    model.set_busy(account(2).id, "stop")
    model.set_busy(account(2).id, "stop")  # no news: no signal
    model.set_tunnel(account(1).id, 5001, 0)
    model.set_resumable({account(2).id})
    assert seen == [(1, 1, [AccountRole.SESSION]), (0, 0, [AccountRole.SESSION]),
                    (1, 1, [AccountRole.SESSION])]
    second = model.data(model.index(1, 0), AccountRole.SESSION)
    assert second.busy == "stop" and second.resumable and not second.tunnel_kept
    assert model.session(account(1).id).tunnel_kept
    # a reload keeps what this session knows of the accounts still there, nothing else
    model.set_rows([(account(1), None)])
    assert model.session(account(1).id).tunnel_port == 5001
    assert model.session(account(2).id).busy is None


def test_latency_comes_with_the_monitor_results() -> None:
    from types import SimpleNamespace

    from ibdesk.ui.account_table_model import LATENCY_POINTS

    model = AccountTableModel()
    at = datetime(2026, 12, 1, tzinfo=UTC)
    model.set_rows([(account(1, do_last_status_check=at), None)])
    detail = StatusDetail(reason="logged in", authenticated=True, latency_ms=42.0)
    for _ in range(LATENCY_POINTS + 5):
        update = SimpleNamespace(account_id=account(1).id, status=ServerStatus.RUNNING,
                                 at=at, fields={}, detail=detail)
        assert model.apply_update(update)  # the same row, a new point for the chart
    points = model.session(account(1).id).latency
    assert len(points) == LATENCY_POINTS and set(points) == {42.0}


def test_the_status_panel_follows_its_row_in_the_model(qtbot: QtBot) -> None:
    from ibdesk.ui.status_panel import StatusPanel

    model = AccountTableModel()
    model.set_rows([(account(1, local_port=5001), None), (account(2), None)])
    panel = StatusPanel()
    qtbot.addWidget(panel)
    panel.set_model(model)
    panel.show_row(account(1).id)
    assert panel.account == account(1, local_port=5001) and panel.progress.isHidden()
    model.set_busy(account(1).id, "restart")  # no call to the panel: it watches
    assert not panel.progress.isHidden() and panel.progress.format() == "Restarting…"
    model.set_tunnel(account(1).id, 5001, 0)
    assert "https://localhost:5001" in panel.tunnel.text()
    model.set_tunnel(account(1).id, 0, 5001)
    assert "reconnecting on localhost:5001" in panel.tunnel.text()
    model.update_account(account(1, ServerStatus.STOPPED, local_port=5001), None)
    assert panel.account is not None and panel.account.do_server_status is ServerStatus.STOPPED
    model.set_busy(account(2).id, "stop")  # another row: the panel stays on its own
    assert panel.account.id == account(1).id
    model.set_rows([(account(2), None)])  # its account went away
    assert panel.account is None


def test_the_table_sorts_in_the_model_with_one_key_per_row() -> None:
    """Through QSortFilterProxyModel a 1,000-row sort called data() ~20,000 times (80 ms of
    the Qt thread after every monitor cycle); the model sorts with one key per row."""
    model = AccountTableModel()
    model.set_rows([(account(i, ServerStatus.RUNNING), None) for i in (3, 1, 2)] +
                   [(account(i, ServerStatus.ERROR), None) for i in range(4, 1000)])
    reads = 0
    original = model.data

    def counted(index: Any, role: int = 0) -> Any:
        nonlocal reads
        reads += 1
        return original(index, role)

    model.data = counted  # type: ignore[method-assign]
    model.sort(COL_ACCOUNT)
    assert reads == 0  # not one call through Qt
    model.data = original  # type: ignore[method-assign]
    names = [model.account_at(r).username for r in range(5)]
    assert names == sorted(names) and names[0] == "user1"
    # a change moves its row at once, except while the order is held (a monitor cycle)
    model.sort(COL_STATUS, Qt.SortOrder.DescendingOrder)
    last = model.rowCount() - 1
    assert model.account_at(last).do_server_status is ServerStatus.RUNNING
    def order() -> list[str]:
        return [model.account_at(r).username for r in range(model.rowCount())]

    held = order()
    model.hold_order = True
    model.update_account(account(4, ServerStatus.PROVISIONING), None)
    assert order() == held  # held still
    model.hold_order = False
    model.resort()
    assert model.account_at(last).username == "user4"


def _same(value: Any) -> Any:
    return value.cacheKey() if isinstance(value, QIcon) else value


def test_a_cell_is_painted_from_one_call_with_what_data_says(qtbot: QtBot) -> None:
    """The delegate asks for all a cell's roles at once (multiData): one call into Python
    a cell instead of seven. What it gets is what data() says, role by role."""
    model = AccountTableModel()
    live = account(2, local_port=15002,
                   do_last_status_check=datetime.now(UTC) - timedelta(minutes=3)
                   ).model_copy(update={"environment": Environment.LIVE})
    model.set_rows([(account(1, ServerStatus.ERROR), StatusDetail(
        reason="Down.", fix="Restart it.", authenticated=False, connected=True)),
        (live, None)])
    roles = [*Qt.ItemDataRole, *AccountRole]
    for row in range(2):
        for column in range(len(HEADERS)):
            index = model.index(row, column)
            for role in roles:
                item = QModelRoleData(role)
                model.multiData(index, item)
                assert _same(item.data()) == _same(model.data(index, role)), (column, role)
    assert model.data(model.index(1, COL_CHECKED)) == "3 min ago"
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.show()
    calls: list[str] = []
    original = AccountTableModel.__dict__["data"].__code__

    def hook(frame: Any, event: str, _arg: Any) -> None:
        if event == "call" and frame.f_code is original:
            calls.append("data")

    sys.setprofile(hook)
    try:
        view.viewport().repaint()
    finally:
        sys.setprofile(None)
    assert calls == []  # painted from multiData alone
    assert model._cells[0] is not None
    model.restyle()  # the theme changed: colours are made again
    assert model._cells == [None, None]
