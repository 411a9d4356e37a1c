"""The account table as a Qt model: rows are (Account, StatusDetail) from the store,
and what only this session knows of each account (`Session`: the action under way, the
tunnel, the latency of the last probes, whether a connect can be resumed).

The model is the one place the window's views read an account from: the table through
the display roles, the status panel through `AccountRole` (it watches the model's
`dataChanged` for its row, as napari's Qt widgets watch their layer model). A change
touches only its row (one `dataChanged`, with the roles that changed); the "checked"
column's ages are refreshed by repainting. The model sorts itself, and the table
filters by hiding rows (`ui/row_filter.py`): the view reads this model directly, with no
QSortFilterProxyModel in front of it. Painting is the hot path at 1,000 rows. Each
visible cell is painted with seven roles; asked through `data()`, each is a call from
C++ into Python, and a proxy adds Python `rowCount`/`columnCount` calls for each index it
maps. So the model gives a cell all its roles in one `multiData` call, from the row's
cells, kept until the row changes, and the roles it never sets cost nothing.
"""

from __future__ import annotations

import enum
import functools
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from PySide6.QtCore import (
    QModelIndex,
    QModelRoleData,
    QModelRoleDataSpan,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtGui import QColor, QFont

from ibdesk.domain.models import Account, Environment, ServerStatus, StatusDetail
from ibdesk.ui import status_style
from ibdesk.ui.columns import HEADERS, AccountColumnsModel, Column

COL_ACCOUNT, COL_ENVIRONMENT, COL_DROPLET, COL_REGION, COL_IP, COL_STATUS, COL_GATEWAY, \
    COL_PORT, COL_CHECKED, COL_COST = tuple(Column)

Index = QModelIndex | QPersistentModelIndex


class AccountRole(enum.IntEnum):
    ACCOUNT = Qt.ItemDataRole.UserRole + 1
    """The domain Account of the row."""
    DETAIL = Qt.ItemDataRole.UserRole + 2
    SORT = Qt.ItemDataRole.UserRole + 3
    SESSION = Qt.ItemDataRole.UserRole + 4
    """The row's `Session`: busy action, tunnel, latency, resumable."""


LATENCY_POINTS = 120
"""How many probes' latency the panel's chart shows."""


@dataclass
class Session:
    """What this run of the window knows of an account beyond the store's row."""

    busy: str | None = None
    """The action under way (its ServerAction value), if any."""
    tunnel_port: int = 0
    """The local port of the open tunnel; 0 when none is up."""
    tunnel_waiting: int = 0
    """The local port of a kept tunnel that is down and being reopened; else 0."""
    resumable: bool = False
    """A connect of this account is pending or failed: Resume carries it on."""
    latency: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_POINTS))

    @property
    def tunnel_kept(self) -> bool:
        return bool(self.tunnel_port or self.tunnel_waiting)


@functools.cache
def _bold() -> QFont:
    font = QFont()
    font.setBold(True)
    return font


def age(moment: datetime | None, now: datetime | None = None) -> str:
    if moment is None:
        return "never"
    seconds = max(0, int(((now or datetime.now(UTC)) - moment).total_seconds()))
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


def gateway_text(detail: StatusDetail | None) -> str:
    if detail is None or detail.authenticated is None:
        return "—"
    if detail.authenticated and detail.competing:
        return "Logged in · competing"
    if detail.authenticated:
        return "Logged in"
    if detail.connected:
        return "Connected, not logged in"
    return "Not connected"


_ACCOUNT_FIELDS = frozenset(Account.model_fields)


_PAINTED = (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.DecorationRole,
            Qt.ItemDataRole.FontRole, Qt.ItemDataRole.ForegroundRole,
            Qt.ItemDataRole.TextAlignmentRole, Qt.ItemDataRole.BackgroundRole,
            Qt.ItemDataRole.CheckStateRole)
"""The roles QStyledItemDelegate paints a cell with (the `multiData` it asks for)."""
_ANSWERED = frozenset({
    Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.DecorationRole,
    Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.FontRole, Qt.ItemDataRole.ForegroundRole,
    Qt.ItemDataRole.AccessibleTextRole, *AccountRole})
"""The roles `data()` can answer; the delegate also asks for alignment, background and
check state for every cell it paints, and those get None without any work."""


def _span(roles: QModelRoleDataSpan | QModelRoleData) -> Iterable[QModelRoleData]:
    if isinstance(roles, QModelRoleDataSpan):  # iterable, though its stubs do not say so
        return cast(Iterable[QModelRoleData], roles)
    return (roles,)


class AccountTableModel(AccountColumnsModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__([], parent)
        self._rows: list[tuple[Account, StatusDetail | None]] = []
        self._cells: list[list[dict[int, Any]] | None] = []
        """Each row's cells (by column) as painted, role by role: made when the row is
        first painted, dropped when it changes. The "checked" column's age is never
        kept: it grows."""
        self._index: dict[str, int] = {}
        self._sessions: dict[str, Session] = {}
        """By account id, kept across `set_rows` (a reload must not forget a tunnel)."""
        self._order: tuple[int, Qt.SortOrder] = (-1, Qt.SortOrder.AscendingOrder)
        """The column the rows are sorted by (-1: the store's order) and which way."""
        self.hold_order = False
        """While True (a monitor cycle being applied), changed rows stay where they are;
        `resort()` puts them in order when it ends."""

    # ------------------------------------------------------------------ contents
    def set_rows(self, rows: list[tuple[Account, StatusDetail | None]]) -> None:
        self.beginResetModel()
        self._rows = [rows[i] for i in self._sorted_rows(rows)]
        self._cells = [None] * len(self._rows)
        self._index = {a.id: i for i, (a, _) in enumerate(self._rows)}
        # what this session knew of an account that is gone goes with it
        self._sessions = {k: v for k, v in self._sessions.items() if k in self._index}
        self.endResetModel()

    def update_account(self, account: Account, detail: StatusDetail | None) -> bool:
        """Replace one row; emits dataChanged for that row only. False when unknown."""
        row = self._index.get(account.id)
        if row is None:
            return False
        self._rows[row] = (account, detail)
        self._cells[row] = None
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(HEADERS) - 1))
        if not self.hold_order:
            self.resort()
        return True

    def merge(self, rows: list[tuple[Account, StatusDetail | None]]) -> bool:
        """Take a fresh read of the rows, touching only those whose data changed. False
        (and nothing changed) when the set of accounts differs: then `set_rows`."""
        if set(self._index) != {account.id for account, _ in rows}:
            return False
        held, self.hold_order = self.hold_order, True
        try:
            for account, detail in rows:
                if self._rows[self._index[account.id]] != (account, detail):
                    self.update_account(account, detail)
        finally:
            self.hold_order = held
        if not held:
            self.resort()
        return True

    # ------------------------------------------------------------------ the order
    # Sorting here, not in a QSortFilterProxyModel: the proxy compares rows through
    # data(), a call into Python for each side of each of ~10,000 comparisons at 1,000
    # rows (80 ms on the Qt thread, a visible stall after every monitor cycle); here each
    # row's key is computed once and Python sorts (a few ms).
    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self._order = (column, order)
        self.resort()

    def resort(self) -> None:
        """Put the rows in the chosen order (nothing is emitted when they already are)."""
        order = self._sorted_rows()
        if order == list(range(len(self._rows))):
            return
        self.layoutAboutToBeChanged.emit()
        where = {old: new for new, old in enumerate(order)}
        before = self.persistentIndexList()
        self._rows = [self._rows[i] for i in order]
        self._cells = [self._cells[i] for i in order]
        self._index = {a.id: i for i, (a, _) in enumerate(self._rows)}
        self.changePersistentIndexList(
            before, [self.index(where[i.row()], i.column()) for i in before])
        self.layoutChanged.emit()

    def _sorted_rows(self, rows: list[tuple[Account, StatusDetail | None]] | None = None
                     ) -> list[int]:
        """Numbers of `rows` (the model's own by default) in the chosen order (stable:
        equal keys keep their rows' order)."""
        rows = self._rows if rows is None else rows
        column, order = self._order
        if column < 0:
            return list(range(len(rows)))

        def key(row: int) -> tuple[bool, Any]:
            account, detail = rows[row]
            value = self._display(account, detail, column, True)
            return (value is not None, value if value is not None else 0)

        return sorted(range(len(rows)), key=key,
                      reverse=order is Qt.SortOrder.DescendingOrder)

    def apply_update(self, update: Any) -> bool:
        """One monitor result (`ui.monitor_process.Update`: status, time, changed fields,
        detail), applied in memory; True when the row changed."""
        row = self._index.get(update.account_id)
        if row is None:
            return False
        account, old_detail = self._rows[row]
        changes = {k: v for k, v in update.fields.items() if k in _ACCOUNT_FIELDS}
        changes.update(do_server_status=update.status, do_last_status_check=update.at)
        new = account.model_copy(update=changes)
        if update.detail is not None and update.detail.latency_ms is not None:
            self.session(account.id).latency.append(update.detail.latency_ms)
            if new == account and update.detail == old_detail:
                self._session_changed(account.id)  # only the chart has news
                return True
        if new == account and update.detail == old_detail:
            return False
        self.update_account(new, update.detail)
        return True

    # ------------------------------------------------------------------ the session
    def session(self, account_id: str) -> Session:
        return self._sessions.setdefault(account_id, Session())

    def set_busy(self, account_id: str, action: str | None) -> None:
        self._change(account_id, busy=action)

    def set_tunnel(self, account_id: str, port: int, waiting: int) -> None:
        self._change(account_id, tunnel_port=port, tunnel_waiting=waiting)

    def set_resumable(self, account_ids: set[str]) -> None:
        for account_id in set(self._index) | {i for i, s in self._sessions.items()
                                              if s.resumable}:
            self._change(account_id, resumable=account_id in account_ids)

    def add_latency(self, account_id: str, milliseconds: float) -> None:
        self.session(account_id).latency.append(milliseconds)
        self._session_changed(account_id)

    def _change(self, account_id: str, **values: Any) -> None:
        session = self.session(account_id)
        if any(getattr(session, key) != value for key, value in values.items()):
            for key, value in values.items():
                setattr(session, key, value)
            self._session_changed(account_id)

    def _session_changed(self, account_id: str) -> None:
        row = self._index.get(account_id)
        if row is not None:
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(HEADERS) - 1),
                                  [AccountRole.SESSION])

    def row_of(self, account_id: str) -> int | None:
        return self._index.get(account_id)

    def account_at(self, row: int) -> Account:
        return self._rows[row][0]

    def account(self, account_id: str) -> Account | None:
        """The account of that row as shown now, or None when it is not in the table."""
        row = self._index.get(account_id)
        return self._rows[row][0] if row is not None else None

    def accounts(self) -> list[Account]:
        """Every row's account, in the table's order."""
        return [account for account, _ in self._rows]

    def restyle(self) -> None:
        """Forget the painted cells: colours follow the theme, which just changed."""
        self._cells = [None] * len(self._rows)

    def text(self, row: int, column: int) -> str:
        """What that cell shows."""
        if column == COL_CHECKED:
            return age(self._rows[row][0].do_last_status_check)
        text: str = self._row_cells(row)[column][Qt.ItemDataRole.DisplayRole]
        return text

    def _row_cells(self, row: int) -> list[dict[int, Any]]:
        cells = self._cells[row]
        if cells is None:
            account, detail = self._rows[row]
            cells = [{role: self._display(account, detail, column, False)
                      if role == Qt.ItemDataRole.DisplayRole
                      else self._role(account, detail, column, role) for role in _PAINTED}
                     for column in Column]
            del cells[COL_CHECKED][Qt.ItemDataRole.DisplayRole]  # asked for each time
            self._cells[row] = cells
        return cells

    # ------------------------------------------------------------------ Qt API
    # rowCount, columnCount and headerData come from AccountColumnsModel.
    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        return self._value(index.row(), index.column(), role)

    def multiData(self, index: Index,  # noqa: N802
                  roleDataSpan: QModelRoleDataSpan | QModelRoleData) -> None:  # noqa: N803
        """Every role a cell is painted with, in one call from C++: the delegate asks
        for seven, and through `data()` each would be a call into Python."""
        if not index.isValid():
            for item in _span(roleDataSpan):
                item.clearData()
            return
        row, column = index.row(), index.column()
        cell = self._row_cells(row)[column]
        for item in _span(roleDataSpan):
            role = item.role()
            item.setData(cell[role] if role in cell else self._value(row, column, role))

    def _value(self, row: int, column: int, role: int) -> Any:
        if role not in _ANSWERED:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(row, column)
        account, detail = self._rows[row]
        return self._role(account, detail, column, role)

    def _role(self, account: Account, detail: StatusDetail | None, column: int,
              role: int) -> Any:
        """Any role's value but the display text's."""
        if role == AccountRole.ACCOUNT:
            return account
        if role == AccountRole.DETAIL:
            return detail
        if role == AccountRole.SESSION:
            return self.session(account.id)
        if role == AccountRole.SORT:
            return self._display(account, detail, column, True)
        if role == Qt.ItemDataRole.DecorationRole and column == COL_STATUS:
            return status_style.icon(account.do_server_status)
        if role == Qt.ItemDataRole.ForegroundRole and column == COL_STATUS:
            return status_style.colour(account.do_server_status)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == COL_ACCOUNT:
                return account.id
            if column == COL_STATUS and detail is not None:
                return detail.reason + (f"\nWhat to do: {detail.fix}" if detail.fix else "")
            if column == COL_GATEWAY and detail is not None and detail.warning:
                return detail.warning
            if column == COL_PORT and account.local_port:
                return (f"Your programs reach this account at https://localhost:"
                        f"{account.local_port} while its tunnel is open.")
            if column == COL_ENVIRONMENT and account.environment is Environment.LIVE:
                return "Live: this server trades with real money."
        if account.environment is Environment.LIVE and column == COL_ENVIRONMENT:
            if role == Qt.ItemDataRole.ForegroundRole:
                return QColor(status_style.text_colour("error"))
            if role == Qt.ItemDataRole.FontRole:
                return _bold()
        if role == Qt.ItemDataRole.AccessibleTextRole and column == COL_STATUS:
            return status_style.LABELS[account.do_server_status]
        return None

    def _display(self, account: Account, detail: StatusDetail | None, column: int,
                 sort: bool) -> Any:
        if column == COL_ACCOUNT:
            return account.username
        if column == COL_ENVIRONMENT:  # live stands out: real money
            return "LIVE" if account.environment is Environment.LIVE and not sort \
                else account.environment.value
        if column == COL_DROPLET:
            return account.do_droplet_name or "—"
        if column == COL_REGION:
            return account.do_region or "—"
        if column == COL_IP:
            return account.do_ip_address or "—"
        if column == COL_STATUS:
            if sort:
                return list(ServerStatus).index(account.do_server_status)
            return status_style.LABELS[account.do_server_status]
        if column == COL_GATEWAY:
            return gateway_text(detail)
        if column == COL_PORT:
            if sort:
                return account.local_port or 0
            return str(account.local_port) if account.local_port else "—"
        if column == COL_CHECKED:
            if sort:
                check = account.do_last_status_check
                return check.timestamp() if check else 0.0
            return age(account.do_last_status_check)
        if column == COL_COST:
            price = account.price_monthly
            if sort:
                return float(price or 0)
            return f"${price:g}" if isinstance(price, int | float) else "—"
        return None


__all__ = ["COL_ACCOUNT", "COL_CHECKED", "COL_COST", "COL_DROPLET", "COL_ENVIRONMENT",
           "COL_GATEWAY", "COL_IP", "COL_PORT", "COL_REGION", "COL_STATUS", "HEADERS",
           "LATENCY_POINTS", "AccountRole", "AccountTableModel", "Session", "age",
           "gateway_text"]
