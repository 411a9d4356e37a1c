"""The Report view: per account uptime over scheduled time, outages, refused logins and
cost, and two charts of the selected account — its status over time and its gateway
latency — drawn by pyqtgraph (made for Qt: date axes, zoom and pan for free).

The figures are `services.support.report.build_report`'s, the same as `ibdesk report`;
they are read off the Qt thread (the controller) and only drawn here.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ibdesk.domain.errors import IbdeskError
from ibdesk.services.support.report import STATUS_ORDER
from ibdesk.ui import dialogs, status_style
from ibdesk.ui.controller import Controller
from ibdesk.ui.tasks import spawn

PERIODS = [("Last hour", 1 / 24), ("Last 24 hours", 1.0), ("Last 7 days", 7.0),
           ("Last 30 days", 30.0), ("Last 90 days", 90.0)]
COLUMNS = ["Account", "Uptime", "Scheduled", "Outages", "Logins refused", "Cost in period",
           "This month (projected)"]


def _length(seconds: float) -> str:
    minutes = seconds / 60
    if minutes >= 90:
        return f"{minutes / 60:.1f} h"
    if minutes >= 1:
        return f"{minutes:.0f} min"
    return f"{seconds:.0f} s"


class ReportDialog(QDialog):
    def __init__(self, controller: Controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.report: Any = None
        self.setWindowTitle("Report — uptime, outages and cost")
        self.resize(1100, 760)
        layout = QVBoxLayout(self)
        self._build_top(layout)
        splitter = QSplitter(Qt.Orientation.Vertical)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.setAccessibleName("Accounts in the report")
        self.table.itemSelectionChanged.connect(self._show_selected)
        splitter.addWidget(self.table)
        splitter.addWidget(self._build_charts())
        splitter.setSizes([220, 520])
        layout.addWidget(splitter, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        self.export = QPushButton("&Export CSV…")
        self.export.clicked.connect(self._export)
        buttons.addButton(self.export, QDialogButtonBox.ButtonRole.ActionRole)
        layout.addWidget(buttons)

    def _build_top(self, layout: QVBoxLayout) -> None:
        row = QHBoxLayout()
        self.period = QComboBox()
        for label, days in PERIODS:
            self.period.addItem(label, days)
        self.period.setCurrentIndex(3)  # 30 days, as `ibdesk report`
        self.period.setAccessibleName("Period")
        self.period.currentIndexChanged.connect(lambda _: self.load())
        row.addWidget(QLabel("Period:"))
        row.addWidget(self.period)
        self.summary = QLabel("Reading the history…")
        self.summary.setWordWrap(True)
        row.addWidget(self.summary, 1)
        layout.addLayout(row)

    def _build_charts(self) -> QWidget:
        pg.setConfigOptions(antialias=True)
        box = QWidget()
        charts = QVBoxLayout(box)
        charts.setContentsMargins(0, 0, 0, 0)
        self.status_plot = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem()})
        self.status_plot.setTitle("Status over time")
        self.status_plot.setMouseEnabled(x=True, y=False)
        left = self.status_plot.getAxis("left")
        left.setTicks([[(len(STATUS_ORDER) - 1 - i, status_style.LABELS[s])
                        for i, s in enumerate(STATUS_ORDER)]])
        self.status_plot.setYRange(-0.5, len(STATUS_ORDER) - 0.5)
        self.status_plot.showGrid(x=True, y=True, alpha=0.2)
        charts.addWidget(self.status_plot, 1)
        self.latency_plot = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem()})
        self.latency_plot.setTitle("Gateway latency (ms)")
        self.latency_plot.setXLink(self.status_plot)
        self.latency_plot.showGrid(x=True, y=True, alpha=0.2)
        charts.addWidget(self.latency_plot, 1)
        self.outages = QListWidget()
        self.outages.setAccessibleName("Outages")
        self.outages.setMaximumHeight(140)
        self._theme(self.status_plot)
        self._theme(self.latency_plot)
        charts.addWidget(QLabel("Outages of the selected account:"))
        charts.addWidget(self.outages)
        return box

    def _theme(self, plot: pg.PlotWidget) -> None:
        """The window's own colours (pyqtgraph draws black by default)."""
        palette = self.palette()
        plot.setBackground(palette.color(QPalette.ColorRole.Base))
        text = palette.color(QPalette.ColorRole.Text)
        for side in ("left", "bottom"):
            axis = plot.getAxis(side)
            axis.setPen(text)
            axis.setTextPen(text)
        plot.getAxis("left").setWidth(90)  # both charts' time axes line up
        plot.getPlotItem().titleLabel.setAttr("color", text)

    # ------------------------------------------------------------------ data
    def load(self) -> None:
        spawn(self._load())

    async def _load(self) -> None:
        self.summary.setText("Reading the history…")
        try:
            self.report = await self.controller.report(float(self.period.currentData()))
        except IbdeskError as exc:
            self.summary.setText(exc.user_message)
            return
        self.show_report(self.report)

    def show_report(self, report: Any) -> None:
        self.report = report
        costs = report.costs
        budget = f" of a ${costs.budget:.2f} budget" if costs.budget is not None else ""
        self.summary.setText(
            f"{report.since:%Y-%m-%d} to {report.until:%Y-%m-%d %H:%M} UTC · this month "
            f"${costs.so_far:.2f} so far{budget}, ${costs.projected:.2f} projected")
        self.table.setRowCount(len(report.accounts))
        for row, a in enumerate(report.accounts):
            ratio = "—" if a.uptime.ratio is None else f"{a.uptime.ratio:.2%}"
            cells = [a.account_id, ratio, _length(a.uptime.scheduled_seconds),
                     str(len(a.uptime.outages)), str(a.uptime.logins_refused),
                     f"${a.cost_period:.2f}", f"${a.cost_projected:.2f}"]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.table.setItem(row, column, item)
        if report.accounts:
            self.table.selectRow(0)
        self._show_selected()

    def _show_selected(self) -> None:
        self.status_plot.clear()
        self.latency_plot.clear()
        self.outages.clear()
        if self.report is None:
            return
        rows = self.table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self.report.accounts):
            return
        account = self.report.accounts[rows[0].row()]
        timeline = account.uptime.timeline
        if timeline:
            xs = [t.timestamp() for t, _ in timeline] + [self.report.until.timestamp()]
            ys = [len(STATUS_ORDER) - 1 - STATUS_ORDER.index(s) for _, s in timeline]
            self.status_plot.plot(xs, ys, stepMode="center", fillLevel=None,
                                  pen=pg.mkPen(status_style.text_colour("accent"), width=2))
        if account.latency:
            self.latency_plot.plot([t.timestamp() for t, _ in account.latency],
                                   [ms for _, ms in account.latency],
                                   pen=pg.mkPen(status_style.text_colour("ok"), width=2),
                                   symbol="o", symbolSize=4,
                                   symbolBrush=status_style.text_colour("ok"))
        # the account's own life within the period (a new account is not a sliver at the end)
        first = timeline[0][0].timestamp() if timeline else self.report.since.timestamp()
        self.status_plot.setXRange(first, self.report.until.timestamp(), padding=0.02)
        for outage in reversed(account.uptime.outages):
            self.outages.addItem(f"{outage.start:%Y-%m-%d %H:%M} UTC · "
                                 f"{_length(outage.seconds)}"
                                 f"{' (ongoing)' if outage.ongoing else ''} · "
                                 f"{outage.status.value}: {outage.reason}")
        if not account.uptime.outages:
            self.outages.addItem("No outage in this period.")

    def _export(self) -> None:
        if self.report is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export the report", "ibdesk-report.csv",
                                              "CSV (*.csv)")
        if path:
            spawn(self._write(Path(path), self.report.to_csv()))

    async def _write(self, path: Path, text: str) -> None:
        try:
            await asyncio.to_thread(path.write_text, text, encoding="utf-8")
        except OSError as exc:
            dialogs.warning(self, "Export", f"Could not write {path}: {exc.strerror}.")


__all__ = ["ReportDialog"]
