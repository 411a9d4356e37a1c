"""What one paint of the accounts table costs the Qt thread, at N accounts.

The window's remaining stalls during a 1,000-account sweep were the table's paints
(`benchmarks/window_stalls.py`): each visible cell asks the model for seven roles, each a
call from C++ into Python, and the filter proxy in front of the model added Python
`rowCount`/`columnCount` calls for each index it mapped. This builds the table as the
window does (same row height, columns and width, ~28 rows visible), sorted by account,
and repaints its viewport again and again, with the model and filter as they are
(`current`: the view reads the model, which keeps each row's texts, and hides rows to
filter) beside `baseline` (the model and its QSortFilterProxyModel from a git revision,
loaded into the same process). Rounds alternate between the two, so both see the same
machine. It prints, per mode, the Qt thread's CPU per paint (median and fastest) and
the calls into the model's Python a paint makes, unfiltered and filtered.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/table_paint.py [N] [--baseline REV]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BASELINE = "858a221"
"""The last commit with the proxy in front of the model."""
ROUNDS = 12
PAINTS = 10
"""Paints a round, per mode."""


def _baseline_module(revision: str, folder: Path) -> ModuleType:
    """account_table_model.py as it was at `revision`, as a module of its own."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{revision}:ibdesk/ui/account_table_model.py"],
        check=True, capture_output=True, text=True).stdout
    path = folder / "baseline_account_table_model.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("baseline_account_table_model", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _rows(n: int) -> list[tuple[Any, Any]]:
    from ibdesk.domain.enums import ServerStatus
    from ibdesk.domain.models import Account, StatusDetail

    now = datetime.now(UTC)
    statuses = list(ServerStatus)
    rows = []
    for i in range(n):
        account = Account(
            id=f"ib-paper-{i:08x}", username=f"trader{i:04d}", environment="paper",
            do_server_status=statuses[i % len(statuses)], do_droplet_id=1000 + i,
            do_droplet_name=f"trader{i:04d}-ib-paper-1", do_region="nyc3",
            do_ip_address=f"10.1.{i // 256}.{i % 256}", local_port=15000 + i,
            do_last_status_check=now - timedelta(seconds=i), price_monthly=6.0)
        detail = StatusDetail(reason="The gateway is logged in to IBKR.",
                              authenticated=bool(i % 3), connected=True)
        rows.append((account, detail))
    return rows


def _table(model: Any) -> Any:
    from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

    view = QTableView()  # as MainWindow._build_table sets it up
    view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setAlternatingRowColors(True)
    view.verticalHeader().setVisible(False)
    view.verticalHeader().setDefaultSectionSize(26)
    view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    view.horizontalHeader().setStretchLastSection(True)
    view.resize(850, 760)
    view.show()
    return view


class _Mode:
    """One way of building the table: its view, and how to filter it."""

    def __init__(self, name: str, view: Any, counted: list[type],
                 set_filter: Callable[[str], None]) -> None:
        self.name = name
        self.view = view
        self.counted = counted
        self.set_filter = set_filter
        self.cpu_ms: dict[str, list[float]] = {"all rows": [], "filtered": []}
        self.calls: dict[str, int] = {}


def _modes(n: int, baseline: ModuleType | None) -> list[_Mode]:
    from PySide6.QtCore import Qt

    from ibdesk.ui.account_table_model import COL_ACCOUNT, AccountTableModel
    from ibdesk.ui.columns import AccountColumnsModel
    from ibdesk.ui.row_filter import RowFilter

    rows = _rows(n)
    modes = []
    if baseline is not None:
        old = baseline.AccountTableModel()
        old.set_rows(rows)
        proxy = baseline.AccountProxy()
        proxy.setSourceModel(old)
        proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        proxy.setFilterKeyColumn(-1)
        view = _table(proxy)
        view.sortByColumn(COL_ACCOUNT, Qt.SortOrder.AscendingOrder)
        modes.append(_Mode("baseline", view, [baseline.AccountTableModel, AccountColumnsModel],
                           proxy.setFilterFixedString))
    model = AccountTableModel()
    model.set_rows(rows)
    view = _table(model)
    view.sortByColumn(COL_ACCOUNT, Qt.SortOrder.AscendingOrder)
    row_filter = RowFilter(view, model)
    modes.append(_Mode("current", view, [AccountTableModel, AccountColumnsModel],
                       row_filter.set_text))
    return modes


def _paint_ms(view: Any) -> float:
    start = time.thread_time()
    view.viewport().repaint()
    return (time.thread_time() - start) * 1000


def _count_calls(mode: _Mode) -> int:
    """The calls into the model's Python (data, rowCount, columnCount) one paint makes,
    seen by a profile hook (PySide keeps the methods it found, so patching them would
    not see the calls)."""
    codes = {cls.__dict__[name].__code__ for cls in mode.counted
             for name in ("data", "rowCount", "columnCount") if name in cls.__dict__}
    calls = 0

    def hook(frame: Any, event: str, _arg: Any) -> None:
        nonlocal calls
        if event == "call" and frame.f_code in codes:
            calls += 1

    sys.setprofile(hook)
    try:
        mode.view.viewport().repaint()
    finally:
        sys.setprofile(None)
    return calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=1000)
    parser.add_argument("--baseline", default=BASELINE, metavar="REV")
    args = parser.parse_args(argv)
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as folder:
        modes = _modes(args.n, _baseline_module(args.baseline, Path(folder)))
        app.processEvents()
        for case, text in (("all rows", ""), ("filtered", "trader01")):
            for mode in modes:
                mode.set_filter(text)
                mode.calls[case] = _count_calls(mode)
            for _ in range(ROUNDS):
                for mode in modes:
                    mode.cpu_ms[case] += [_paint_ms(mode.view) for _ in range(PAINTS)]
    print(f"{args.n} accounts, ~{modes[0].view.viewport().height() // 26} rows visible; "
          f"baseline {args.baseline}; {ROUNDS} rounds of {PAINTS} paints a mode")
    print(f"{'case':>9} {'mode':>9} {'CPU ms/paint (median)':>22} {'fastest':>8} "
          f"{'calls into Python':>18}")
    for case in ("all rows", "filtered"):
        for mode in modes:
            times = mode.cpu_ms[case]
            print(f"{case:>9} {mode.name:>9} {statistics.median(times):>22.2f} "
                  f"{min(times):>8.2f} {mode.calls[case]:>18}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
