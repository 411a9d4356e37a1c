"""The accounts table's filter: the rows that do not match are hidden in the view.

A QSortFilterProxyModel in front of the model would do the same, but it costs on every
paint, filter or none: each index it maps calls the model's `rowCount` and `columnCount`,
and in this model those are Python. With it, a paint of 27 rows at 1,000 accounts made
5,922 calls into Python; without it (and with the model's `multiData`), 504
(`benchmarks/table_paint.py` counts them and times the paint). The view hides rows
in C++ (its vertical header), and a hidden row stays hidden when the model re-sorts, as
Qt keeps hidden sections across `layoutChanged`. So the view reads the model directly.

The match is the proxy's: the text anywhere in any column's display text, case ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, Qt, Signal
from PySide6.QtWidgets import QTableView

from ibdesk.ui.account_table_model import AccountTableModel
from ibdesk.ui.columns import Column

Index = QModelIndex | QPersistentModelIndex


class RowFilter(QObject):
    """Hides the rows of `view` whose texts do not hold the filter's text, and keeps
    doing so as rows change or the model is reloaded.

    Signals:
        counted(shown, total): the rows shown and all of them, after the filter ran
            (shown == total once it is cleared)
    """

    counted = Signal(int, int)

    def __init__(self, view: QTableView, model: AccountTableModel) -> None:
        super().__init__(view)
        self._view = view
        self._model = model
        self._needle = ""
        self._some_hidden = False
        """Whether a row may be hidden now (after a filter was cleared, until shown)."""
        model.modelReset.connect(self._apply_all)
        model.dataChanged.connect(self._on_data_changed)

    def set_text(self, text: str) -> None:
        """Filter by `text` (empty: every row is shown)."""
        self._needle = text.casefold()
        self._apply_all()

    def matches(self, row: int) -> bool:
        if not self._needle:
            return True
        return any(self._needle in self._model.text(row, column).casefold()
                   for column in Column)

    def shown_rows(self) -> list[int]:
        """The rows the table shows, top to bottom."""
        return [row for row in range(self._model.rowCount())
                if not self._view.isRowHidden(row)]

    def _apply(self, rows: Iterable[int], *, count: bool = False) -> None:
        """Hide or show `rows`; say the count when one changed (or when asked to). A
        sweep changes a thousand rows one by one, so nothing here walks all of them
        unless the filter itself changed."""
        changed = False
        for row in rows:
            hide = not self.matches(row)
            if hide != self._view.isRowHidden(row):
                self._view.setRowHidden(row, hide)
                changed = True
        if not (changed or count):
            return
        selection = self._view.selectionModel()
        if selection is not None and any(self._view.isRowHidden(index.row())
                                         for index in selection.selectedRows()):
            self._view.clearSelection()  # what is selected is what is seen
        self.counted.emit(len(self.shown_rows()), self._model.rowCount())

    def _apply_all(self) -> None:
        if not self._needle and not self._some_hidden:
            return  # nothing hidden, nothing to hide: a reload costs nothing here
        self._apply(range(self._model.rowCount()), count=True)
        self._some_hidden = bool(self._needle)

    def _on_data_changed(self, top: Index, bottom: Index,
                         roles: Sequence[int] = ()) -> None:
        if not self._needle or (roles and Qt.ItemDataRole.DisplayRole not in roles):
            return  # a session's news (busy, tunnel, latency) changes no text
        self._apply(range(top.row(), bottom.row() + 1))


__all__ = ["RowFilter"]
