"""The account table as the window last showed it, painted first at the next start.

Why: before the live rows can be shown, Python must load pydantic, pydantic-settings,
SQLAlchemy and keyring and open the store (most of a second). The snapshot needs only
Qt and json, so the window appears with the accounts at once, marked as "as of <time>"
until the live rows replace it. It holds what the table displays — ids, environments,
server names, regions, addresses, statuses, costs — nothing secret; it lives in the data
folder next to the database that holds the same facts.

Only Qt and the standard library are imported here (a test keeps it that way).
"""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import QHeaderView, QLabel, QMainWindow, QTableView, QVBoxLayout, QWidget

from ibdesk.private_files import create_private
from ibdesk.ui.columns import HEADERS, AccountColumnsModel

FILE_NAME = "window-snapshot.json"
VERSION = 1
MAX_ROWS = 5000

Index = QModelIndex | QPersistentModelIndex


def path_for(home: Path) -> Path:
    return home / FILE_NAME


def write(home: Path, rows: list[list[str]], *, title: str,
          widths: list[int] | None = None, geometry: bytes | None = None,
          splitter: bytes | None = None) -> None:
    """Replace the snapshot whole (temporary file, then rename). `widths` are the live
    table's column widths, so that the first paint need not measure any text;
    `geometry` and `splitter` are where the window was and how it was split (Qt's own
    saveGeometry/saveState), so that it opens there again."""
    target = path_for(home)
    data = {"version": VERSION, "saved_at": time.time(), "title": title,
            "widths": [int(w) for w in (widths or [])][:len(HEADERS)],
            "geometry": base64.b64encode(geometry).decode() if geometry else None,
            "splitter": base64.b64encode(splitter).decode() if splitter else None,
            "rows": [[str(cell) for cell in row[:len(HEADERS)]] for row in rows[:MAX_ROWS]]}
    temp = target.with_name(target.name + ".new")
    create_private(temp)  # ids and usernames: this user's only
    temp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(temp, target)


def saved_bytes(data: dict[str, Any] | None, key: str) -> bytes | None:
    """The window's saved geometry or splitter state, when there is a readable one."""
    value = (data or {}).get(key)
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        return None


def read_any(home: Path) -> dict[str, Any] | None:
    """The snapshot file's data even without rows (a window state to restore)."""
    try:
        data = json.loads(path_for(home).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("version") == VERSION else None


def read(home: Path) -> dict[str, Any] | None:
    """The snapshot, or None when there is none or it is not one ibdesk wrote."""
    try:
        data = json.loads(path_for(home).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return None
    rows = data.get("rows")
    if not isinstance(rows, list) or not all(
            isinstance(r, list) and len(r) == len(HEADERS) for r in rows):
        return None
    return data


class SnapshotModel(AccountColumnsModel):
    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and index.isValid():
            return self._rows[index.row()][index.column()]
        if role == Qt.ItemDataRole.ForegroundRole:
            return Qt.GlobalColor.gray  # not live yet
        return None


class SnapshotWindow(QMainWindow):
    """Shown for the second or so until the real window is ready, then closed."""

    def __init__(self, snapshot: dict[str, Any]) -> None:
        super().__init__()
        self.setWindowTitle(str(snapshot.get("title") or "ibdesk"))
        self.resize(1200, 720)
        geometry = saved_bytes(snapshot, "geometry")
        if geometry:  # where the window was (Qt keeps it on a screen that exists now)
            self.restoreGeometry(geometry)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(0, 0, 0, 0)
        saved = time.strftime("%H:%M", time.localtime(float(snapshot.get("saved_at", 0))))
        self.note = QLabel(f"Loading… these are your accounts as of {saved}; live status "
                           "follows in a moment.")
        self.note.setContentsMargins(12, 8, 12, 8)
        self.note.setAccessibleName("Loading")
        layout.addWidget(self.note)
        self.table = QTableView()
        self.model = SnapshotModel(snapshot["rows"])
        self.table.setModel(self.model)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(26)  # as the live table
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setResizeContentsPrecision(60)
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        widths = snapshot.get("widths") or []
        if len(widths) == len(HEADERS) and all(isinstance(w, int) and 0 < w < 2000
                                               for w in widths):
            for column, width in enumerate(widths):
                self.table.setColumnWidth(column, width)
        else:
            self.table.resizeColumnsToContents()
        self.table.setAccessibleName("Accounts (loading)")
        layout.addWidget(self.table, 1)
        self.setCentralWidget(body)


__all__ = ["FILE_NAME", "SnapshotModel", "SnapshotWindow", "path_for", "read", "read_any",
           "saved_bytes", "write"]
