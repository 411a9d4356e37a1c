"""The accounts table's columns, shared by the live table (account_table_model) and the
start-up snapshot painted before anything heavy loads (snapshot): one list, so the two
can never disagree about what a column is."""

from __future__ import annotations

import enum
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt

Index = QModelIndex | QPersistentModelIndex


class Column(enum.IntEnum):
    ACCOUNT = 0
    ENVIRONMENT = 1
    DROPLET = 2
    REGION = 3
    IP = 4
    STATUS = 5
    GATEWAY = 6
    PORT = 7
    CHECKED = 8
    COST = 9

    @property
    def title(self) -> str:
        return _TITLES[self]


_TITLES = {Column.ACCOUNT: "Account", Column.ENVIRONMENT: "Env", Column.DROPLET: "Server",
           Column.REGION: "Region", Column.IP: "Address", Column.STATUS: "Status",
           Column.GATEWAY: "Gateway", Column.PORT: "Port", Column.CHECKED: "Checked",
           Column.COST: "$/month"}

HEADERS = [column.title for column in Column]


class AccountColumnsModel(QAbstractTableModel):
    """Rows of accounts under the table's columns: the shape the live table and the
    snapshot share (each says what a cell shows)."""

    def __init__(self, rows: list[Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows = rows

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        return None


__all__ = ["HEADERS", "AccountColumnsModel", "Column"]
