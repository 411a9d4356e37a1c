"""The main window: the account table, the status panel, the toolbar, and the sandbox
banner. It adapts the Controller's signals into views and its buttons into requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import sys
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QSystemTrayIcon,
    QTableView,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from ibdesk import __version__
from ibdesk.domain.actions import Ask, ServerAction, allowed_actions
from ibdesk.domain.errors import IbdeskError
from ibdesk.domain.models import Account, Environment
from ibdesk.private_files import create_private
from ibdesk.ui import dialogs, status_style
from ibdesk.ui.account_table_model import (
    COL_ACCOUNT,
    AccountRole,
    AccountTableModel,
)
from ibdesk.ui.controller import Controller
from ibdesk.ui.row_filter import RowFilter
from ibdesk.ui.status_panel import SCHEDULE_LABEL, StatusPanel
from ibdesk.ui.tasks import async_slot, spawn
from ibdesk.ui.tray import Tray

if TYPE_CHECKING:
    from ibdesk.domain.costs import CostSummary

log = logging.getLogger(__name__)
COST_TIP = ("What DigitalOcean bills for these servers: a month under their schedules, and "
            "this month so far (powered-off servers are billed too; destroyed ones are not).")
UPDATE_CHUNK = 100
CHUNK_PAUSE = 0.01
"""Seconds between two chunks of a cycle's results: a pass of Qt's loop with the table's
paint (~20 ms for 28 visible rows: 1,960 data() calls) between them, rather than chunks
back to back in one pass (benchmarks/window_stalls.py)."""
MAX_COLUMN_WIDTH = 240
"""No column measured wider than this (longer text ends in "…", the tooltip has it)."""


class MainWindow(QMainWindow):
    """Signals:
        closed(): the window closed and the controller shut down (the app may end)
    """

    closed = Signal()

    def __init__(self, controller: Controller) -> None:
        super().__init__()
        self.controller = controller
        self.setWindowTitle("ibdesk" + (" — SANDBOX" if controller.sandbox else ""))
        self.resize(1200, 720)
        self.model = AccountTableModel(self)  # sorts itself; the view filters (RowFilter)
        self._applying = 0  # chunks being applied now
        self._one_chunk = asyncio.Lock()
        self._cycle_over = False  # the cycle's end came while they were
        self._resort = QTimer(self)  # if a cycle's end never comes (the worker stopped)
        self._resort.setSingleShot(True)
        self._resort.setInterval(5000)
        self._resort.timeout.connect(self._on_cycle_ended)
        self.wizard: Any = None  # a ConnectWizard once opened
        self.diagnose_dialogs: dict[str | None, Any] = {}
        self.log_dialogs: dict[str, Any] = {}
        self._shutdown_task: asyncio.Future[None] | None = None
        self._shut_down = False
        self._quitting = False
        """Quit was chosen: closing ends the app even with a tray (a close hides it)."""
        self._hidden_geometry: Any = None
        """saveGeometry() as the window was hidden (shown there again)."""

        self._build()
        self._connect_signals()
        self.tray: Tray | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():  # none on a bare X server or offscreen
            self.tray = Tray(QApplication.windowIcon(), self)
            self.tray.show()
        hints = QApplication.styleHints()
        hints.colorSchemeChanged.connect(lambda *_: self._apply_theme())
        self._ages = QTimer(self)
        self._ages.setInterval(5000)
        # Ages are computed when cells are painted: repainting the visible rows is enough,
        # and unlike dataChanged over every row it does not re-run the filter over a
        # thousand rows (each a call into Python, slow while the monitor's thread is busy).
        self._ages.timeout.connect(self._tick_ages)
        self._ages.start()

    def _apply_theme(self) -> None:
        self.model.restyle()
        self.table.viewport().update()
        self.panel.apply_theme()

    def _tick_ages(self) -> None:
        self.table.viewport().update()
        self.panel.refresh_age()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self._build_actions()
        self._build_toolbar()
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self._build_banners(layout)
        self.stack = QStackedWidget()
        layout.addWidget(self.stack, 1)
        self._build_empty_page()
        self._build_table()
        self.setCentralWidget(central)
        self.setTabOrder(self.filter, self.table)
        self.setTabOrder(self.table, self.panel)
        self._build_status_bar()

    def _build_actions(self) -> None:
        """The window's commands, with the platform's shortcuts and macOS's menu roles."""
        self.connect_action = QAction(QIcon.fromTheme("list-add"), "&Connect account…", self)
        self.connect_action.setShortcut(QKeySequence.StandardKey.New)
        self.connect_action.triggered.connect(self.open_wizard)
        self.refresh_action = QAction(QIcon.fromTheme("view-refresh"), "Re&fresh", self)
        self.refresh_action.setShortcut(QKeySequence.StandardKey.Refresh)
        self.refresh_action.triggered.connect(self._on_refresh_triggered)
        self.about_action = QAction("&About", self)
        self.about_action.triggered.connect(self.show_about)
        self.settings_action = QAction(QIcon.fromTheme("preferences-system"), "&Settings…",
                                       self)
        # the platform's Preferences key (⌘, on macOS); Linux and Windows have none: Ctrl+,
        self.settings_action.setShortcuts(
            QKeySequence.keyBindings(QKeySequence.StandardKey.Preferences)
            or [QKeySequence("Ctrl+,")])
        self.settings_action.triggered.connect(self.open_settings)
        self.diagnose_action = QAction(QIcon.fromTheme("dialog-information"),
                                       "D&iagnose this computer…", self)
        self.diagnose_action.setToolTip("Check the keyring, the DigitalOcean token, the droplet "
                                        "limit and the firewall")
        self.diagnose_action.triggered.connect(
            lambda: self.open_diagnose(None, "this computer and DigitalOcean"))
        self.report_action = QAction(QIcon.fromTheme("x-office-spreadsheet"), "Report…",
                                     self)
        self.report_action.setToolTip("Uptime over scheduled time, outages, refused logins "
                                      "and cost, per account, with charts")
        self.report_action.triggered.connect(self.open_report)
        self.quit_action = QAction("&Quit ibdesk", self)
        # the platform's Quit (Ctrl+Q, ⌘Q); Windows has none, so Ctrl+Q there too
        self.quit_action.setShortcuts(QKeySequence.keyBindings(QKeySequence.StandardKey.Quit)
                                      or [QKeySequence("Ctrl+Q")])
        self.quit_action.triggered.connect(self.request_quit)
        self.addAction(self.quit_action)
        # macOS's application menu (ibdesk ▸ About, Settings…, Quit) takes the actions by
        # role; its Quit then asks about open tunnels like every other Quit
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        self.settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)
        if sys.platform == "darwin":
            app_menu = self.menuBar().addMenu("ibdesk")
            for action in (self.about_action, self.settings_action, self.quit_action):
                app_menu.addAction(action)

    def _build_toolbar(self) -> None:
        toolbar = QToolBar("Main")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.addToolBar(toolbar)
        toolbar.addAction(self.connect_action)
        toolbar.addAction(self.refresh_action)
        toolbar.addSeparator()
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter accounts (Ctrl+F)")
        self.filter.setClearButtonEnabled(True)
        self.filter.setMaximumWidth(320)
        self.filter.setAccessibleName("Filter accounts")
        toolbar.addWidget(self.filter)
        find = QAction(self)
        find.setShortcut(QKeySequence.StandardKey.Find)
        find.triggered.connect(self.filter.setFocus)
        self.addAction(find)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        toolbar.addWidget(spacer)
        toolbar.addAction(self.report_action)
        toolbar.addAction(self.diagnose_action)
        toolbar.addAction(self.settings_action)
        toolbar.addAction(self.about_action)

    def _build_banners(self, layout: QVBoxLayout) -> None:
        """The sandbox banner (always, in the sandbox) and the monitoring-degraded one."""
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setAccessibleName("Sandbox banner")
        self.banner.setStyleSheet("background: #fefcbf; color: #744210; padding: 8px 12px; "
                                  "border-bottom: 1px solid #ecc94b;")
        sandbox = self.controller.sandbox
        if sandbox is not None:
            self.banner.setText(
                "<b>SANDBOX</b> — a simulated DigitalOcean and IBKR on this computer; nothing "
                "here is real or costs money. Demo IBKR login: "
                f"<b>{sandbox.ibkr_username}</b> / <b>{sandbox.ibkr_password}</b>"
                + (f" · {sandbox.note}" if sandbox.note else ""))
        self.banner.setVisible(sandbox is not None)
        layout.addWidget(self.banner)
        self.degraded_banner = QLabel()
        self.degraded_banner.setWordWrap(True)
        self.degraded_banner.setAccessibleName("Monitoring degraded")
        self.degraded_banner.setStyleSheet(
            "background: #fed7d7; color: #742a2a; padding: 8px 12px; "
            "border-bottom: 1px solid #fc8181;")
        self.degraded_banner.setVisible(False)
        layout.addWidget(self.degraded_banner)

    def _build_empty_page(self) -> None:
        """What a first start shows instead of an empty table."""
        self.empty = QWidget()
        empty_layout = QVBoxLayout(self.empty)
        empty_layout.addStretch(1)
        title = QLabel("<h2>No IBKR account connected yet</h2>")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text = QLabel("ibdesk gives each IBKR login its own always-on IBeam gateway on a "
                      "DigitalOcean server, and keeps watching it.<br>Start by connecting an "
                      "account: you need a DigitalOcean API token and your IBKR login.")
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text.setWordWrap(True)
        self.empty_button = QPushButton("Connect an account…")
        self.empty_button.setDefault(True)
        self.empty_button.clicked.connect(self.open_wizard)
        for widget in (title, text):
            empty_layout.addWidget(widget)
        empty_layout.addWidget(self.empty_button, 0, Qt.AlignmentFlag.AlignHCenter)
        empty_layout.addStretch(2)
        self.stack.addWidget(self.empty)

    def _build_table(self) -> None:
        self.table = QTableView()
        self.table.setModel(self.model)
        self.rows = RowFilter(self.table, self.model)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(COL_ACCOUNT, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setTabKeyNavigation(False)  # Tab leaves the table (arrows move in it)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(26)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        # Column widths from the first rows only: measuring all of a thousand rows costs a
        # call into Python per cell (most of a second at start-up).
        self.table.horizontalHeader().setResizeContentsPrecision(60)
        self.table.setAccessibleName("Accounts")
        self.panel = StatusPanel()
        self.panel.set_model(self.model)  # it shows the selected row and follows it
        splitter = QSplitter()
        splitter.addWidget(self.table)
        splitter.addWidget(self.panel)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([850, 430])
        splitter.setChildrenCollapsible(False)
        self.splitter = splitter
        self.stack.addWidget(splitter)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._row_menu)

    def _build_status_bar(self) -> None:
        self.statusBar().showMessage(f"ibdesk {__version__}")
        self.shown = QLabel()  # while the filter hides rows: how many it shows
        self.shown.setAccessibleName("Accounts shown")
        self.shown.setContentsMargins(8, 0, 8, 0)
        self.shown.setVisible(False)
        self.statusBar().addPermanentWidget(self.shown)
        self.cost = QLabel()
        self.cost.setAccessibleName("Monthly cost")
        self.cost.setToolTip(COST_TIP)
        self._costs: CostSummary | None = None
        self._budget_said: str | None = None
        self.cost.setContentsMargins(8, 0, 8, 0)
        self.statusBar().addPermanentWidget(self.cost)

    def _connect_signals(self) -> None:
        self.filter.textChanged.connect(self.rows.set_text)
        self.rows.counted.connect(self._show_count)
        c = self.controller
        c.cycle_finished.connect(self._on_cycle_finished)
        c.cycle_ended.connect(self._cycle_end_arrived)
        c.status_changed.connect(self._on_status_changed)
        c.accounts_changed.connect(self._on_accounts_changed)
        c.action_started.connect(self.model.set_busy)
        c.action_finished.connect(self._on_action_finished)
        c.tunnel_changed.connect(self._on_tunnel_changed)
        c.message_posted.connect(self._on_message_posted)
        c.monitoring_changed.connect(self._on_monitoring_changed)
        c.costs_changed.connect(self._on_costs_changed)
        c.schedule_done.connect(self._on_schedule_done)
        self.table.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.panel.action_requested.connect(self._on_action_requested)

    def show_about(self) -> None:
        settings = self.controller.rt.settings
        QMessageBox.about(
            self, "About ibdesk",
            f"<h3>ibdesk {__version__}</h3><p>An always-on IBeam gateway per IBKR login, on "
            "DigitalOcean, watched from your desktop.</p>"
            f"<p>Data folder: {settings.home}<br>Keyring: "
            f"{self.controller.rt.secrets.backend_name}<br>DigitalOcean API: "
            f"{settings.do_api_url}</p>")

    # ------------------------------------------------------------------ data
    async def reload(self) -> None:
        rows = await self.controller.accounts()
        self._update_tray([a for a, _ in rows])
        selected = self.selected_account_id()
        unfinished = await self.controller.unfinished_connects()
        self.model.set_rows(rows)
        self.model.set_resumable(unfinished)
        self.stack.setCurrentIndex(1 if rows else 0)
        if rows:
            self.table.resizeColumnsToContents()
            for column in range(self.model.columnCount()):  # a long username must not push
                if self.table.columnWidth(column) > MAX_COLUMN_WIDTH:  # the status off
                    self.table.setColumnWidth(column, MAX_COLUMN_WIDTH)  # screen: "…"
            self.select(selected or rows[0][0].id)
        else:
            self.panel.show_account(None, None)
        await self._sum_costs()

    async def _apply(self) -> None:
        """Re-read the rows; only the rows whose data changed are touched."""
        rows = await self.controller.accounts()
        if not self.model.merge(rows):  # an account came or went
            await self.reload()
            return
        self.model.set_resumable(await self.controller.unfinished_connects())
        self._update_tray([a for a, _ in rows])
        await self._sum_costs()
        await self._show_selected()

    def selected_account_id(self) -> str | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows:
            return None
        account = self.model.data(rows[0], AccountRole.ACCOUNT)
        return account.id if isinstance(account, Account) else None

    def select(self, account_id: str) -> None:
        row = self.model.row_of(account_id)
        if row is None or self.table.isRowHidden(row):
            return  # not shown: filtered out
        self.table.selectRow(row)

    def _show_count(self, shown: int, total: int) -> None:
        """What the filter leaves, in the status bar: a table it emptied says why."""
        if shown == total:
            self.shown.setVisible(False)
            return
        if shown:
            self.shown.setText(f"Showing {shown:,} of {total:,} accounts")
            self.shown.setStyleSheet("")
        else:
            self.shown.setText(f"No account matches “{self.filter.text()}”: clear the "
                               f"filter to see all {total:,}")
            self.shown.setStyleSheet(status_style.text_style("warning"))
        self.shown.setVisible(True)

    def _update_tray(self, accounts: list[Account]) -> None:
        if self.tray is not None:
            self.tray.update_summary(accounts, tunnels=self.controller.open_tunnels())

    def _show_cost(self) -> None:
        """All the servers' monthly cost, in the status bar (a trader's standing bill);
        this month's figures and the budget once the controller has summed them."""
        accounts = [a for a in self.model.accounts() if a.do_droplet_id is not None]
        summary = self._costs
        if summary is not None:
            text = (f"{len(accounts)} server{'s' if len(accounts) != 1 else ''} · "
                    f"${summary.scheduled:,.2f}/month under the schedules · "
                    f"${summary.so_far:,.2f} so far this month")
            if summary.budget is not None:
                text += f" of ${summary.budget:,.2f}"
            warning = summary.budget_text()
            self.cost.setText(f"⚠ {text}" if warning else text)
            self.cost.setToolTip(warning or COST_TIP)
            self.cost.setStyleSheet(status_style.text_style("warning") if warning else "")
            self.cost.setVisible(bool(self.model.accounts()))
            return
        total = sum(a.price_monthly or 0 for a in accounts)
        self.cost.setText(f"{len(accounts)} server{'s' if len(accounts) != 1 else ''} · "
                          f"${total:,.2f}/month".replace(".00/", "/"))
        self.cost.setVisible(bool(accounts))

    async def _sum_costs(self) -> None:
        """This month's figures, summed off the Qt thread, then shown."""
        try:
            self._costs = await self.controller.cost_summary()
        except IbdeskError as exc:
            log.warning("could not sum the costs: %s", exc.user_message)
        self._show_cost()

    def _on_costs_changed(self, summary: object) -> None:
        self._costs = summary  # type: ignore[assignment]
        self._show_cost()
        warning = getattr(summary, "budget_text", lambda: None)()
        if warning and warning != self._budget_said:
            self._budget_said = warning
            self._on_message_posted("warning", warning)

    def _on_schedule_done(self, done: Any) -> None:
        """What a schedule did: the status bar, and a notification for what asks for
        attention (a warning before an idle shutdown, a failed or missed start)."""
        self.statusBar().showMessage(f"{done.account_id}: {done.message}", 30000)
        if self.tray is not None and (done.alarming or done.did.value == "idle_warning"):
            self.tray.notify("ibdesk schedule", f"{done.account_id}: {done.message}")

    def _row_menu(self, point: Any) -> None:
        """Right-click on a row: the panel's actions for that account."""

        index = self.table.indexAt(point)
        if not index.isValid():
            return
        account = self.model.data(index, AccountRole.ACCOUNT)
        if not isinstance(account, Account):
            return
        self.select(account.id)
        menu = self.row_menu(account)
        menu.popup(self.table.viewport().mapToGlobal(point))

    def row_menu(self, account: Account) -> Any:
        from PySide6.QtWidgets import QMenu

        menu = QMenu(self)
        session = self.model.session(account.id)
        allowed = allowed_actions(account, busy=session.busy is not None,
                                  resumable=session.resumable)
        kept = session.tunnel_kept
        for action in ServerAction:
            if action.only_when_allowed and action not in allowed:
                continue
            text = "Close &tunnel" if action is ServerAction.TUNNEL and kept else action.label
            item = menu.addAction(text)
            item.setEnabled(action in allowed or (action is ServerAction.TUNNEL and bool(kept)))
            item.triggered.connect(lambda _=False, a=action: self._on_action_requested(
                account.id, a))
        menu.addSeparator()
        for extra, text in (("copy_url", f"Cop&y https://localhost:{account.local_port}"),
                            ("port", "C&hange port…"), ("schedule", SCHEDULE_LABEL)):
            item = menu.addAction(text)
            item.setEnabled(bool(account.local_port) or extra == "schedule")
            item.triggered.connect(lambda _=False, a=extra: self._on_action_requested(
                account.id, a))
        return menu

    async def _show_selected(self) -> None:
        """The panel follows the selected row of the model; its history is read here
        (from the store, off the Qt thread)."""
        account_id = self.selected_account_id()
        self.panel.show_row(account_id)
        if account_id is not None and self.model.row_of(account_id) is not None:
            self.panel.show_history(await self.controller.history(account_id))

    # ------------------------------------------------------------------ slots
    @async_slot()
    async def _on_selection_changed(self, *_: object) -> None:
        await self._show_selected()

    @async_slot()
    async def _on_cycle_finished(self, updates: object) -> None:
        await self.apply_updates(list(updates) if isinstance(updates, list) else [])

    async def apply_updates(self, updates: list[Any]) -> None:
        """A monitor cycle's results, applied in memory: no database read, only changed
        rows touched, and a yield to the event loop every few hundred rows so that a
        thousand-account cycle never holds a frame."""
        selected = self.selected_account_id()
        touched_selected = False
        # Sorted by a column the cycle changes ("checked"), every row was re-sorted and the
        # view laid out again (a second of the Qt thread per 1,000-row sweep); during a
        # cycle the order holds still, and is made once when the cycle has ended.
        if not self.model.hold_order:
            self.model.hold_order = True
            self._resort.start()
        self._applying += 1
        try:
            # one chunk at a time, in the order they came: ten chunks applied side by
            # side took their steps in one pass of Qt's loop (a stall of 50-90 ms)
            async with self._one_chunk:
                for start in range(0, len(updates), UPDATE_CHUNK):
                    for update in updates[start:start + UPDATE_CHUNK]:
                        if self.model.apply_update(update):
                            touched_selected |= update.account_id == selected
                    await asyncio.sleep(CHUNK_PAUSE)
        finally:
            self._applying -= 1
        if not self._applying and self._cycle_over:
            self._on_cycle_ended()
        if touched_selected or any(u.account_id == selected for u in updates):
            await self._show_selected()

    def _cycle_end_arrived(self) -> None:
        """The end comes right behind its last chunk, whose task has not stepped yet: the
        end is looked at after it has (tasks step in the order they were made)."""
        asyncio.get_running_loop().call_soon(self._on_cycle_ended)

    def _on_cycle_ended(self) -> None:
        """Once a cycle, after its last chunk is applied: the order, the tray's summary
        and the bill (over all rows each)."""
        if self._applying:  # the last chunk is still being applied: then
            self._cycle_over = True
            return
        self._cycle_over = False
        self._resort.stop()
        if self.model.hold_order:
            self.model.hold_order = False
            self.model.resort()  # one sort, of the rows as they are now
        self._update_tray(self.model.accounts())
        self._show_cost()

    @async_slot()
    async def _on_status_changed(self, change: object) -> None:
        event = getattr(change, "event", None)
        account = getattr(change, "account", None)
        if event is not None and event.status.value == "error":
            self.statusBar().showMessage(f"{event.account_id}: {event.reason}", 15000)
            if account is not None and self.tray is not None:
                self.tray.notify_error(account, event.reason)

    @async_slot()
    async def _on_accounts_changed(self) -> None:
        await self.reload()

    @async_slot()
    async def _on_refresh_triggered(self) -> None:
        """Check every account now (it checked only the selected row)."""
        count = self.model.rowCount()
        self.statusBar().showMessage(f"Checking {count} account{'s' if count != 1 else ''}…")
        try:
            await self.controller.refresh_all()
            await self._apply()
            self.statusBar().showMessage(f"Checked {count} account"
                                         f"{'s' if count != 1 else ''} just now.", 5000)
        except IbdeskError as exc:
            self.statusBar().showMessage(exc.user_message)

    def _on_action_finished(self, account_id: str, action: str, error: str) -> None:
        self.model.set_busy(account_id, None)
        if error:  # emitted inside the action's task: a box that does not block it
            dialogs.warning(self, f"{action.capitalize()} failed", error)
        spawn(self._apply())

    def _on_tunnel_changed(self, account_id: str, port: int) -> None:
        self.model.set_tunnel(account_id, self.controller.tunnel_port(account_id),
                              self.controller.tunnel_waiting(account_id))
        self._update_tray(self.model.accounts())
        if port:
            self.statusBar().showMessage(
                f"Gateway of {account_id} at https://localhost:{port} for your programs.")

    def _on_monitoring_changed(self, why: str) -> None:
        """A standing banner while the monitor cannot ask DigitalOcean: statuses of the
        servers themselves are then as last seen, which the trader must know."""
        self.degraded_banner.setText(f"<b>Monitoring degraded:</b> {html.escape(why)}"
                                     if why else "")
        self.degraded_banner.setVisible(bool(why))
        if self.tray is not None:
            self.tray.set_degraded(why or None)

    def _on_message_posted(self, level: str, text: str) -> None:
        self.statusBar().showMessage(text, 0 if level != "info" else 10000)

    def _on_action_requested(self, account_id: str, action: str) -> None:
        """A button of the panel (or the row's menu): what must be asked is asked here,
        in this plain slot, and only then does the action run as a task — a dialog run
        inside a task blocks every other task (a monitor cycle's updates) until closed."""
        account = self.model.account(account_id)
        if account is None:
            return
        go, value = self.ask_first(account, action)
        if go:
            spawn(self.perform(account_id, action, confirmed=True, value=value))

    def ask_first(self, account: Account, action: str) -> tuple[bool, Any]:
        """What the action needs from the person (a confirmation, a password, a port):
        (False, None) when they said no."""
        if action == "password":
            password, ok = QInputDialog.getText(
                self, "New IBKR password",
                f"Enter the current IBKR password of {account.username}. It is delivered "
                "to the server over SSH and IBeam starts again with it.",
                QLineEdit.EchoMode.Password)
            return (bool(ok and password), password)
        if action == "port":
            port, ok = QInputDialog.getInt(
                self, "Local port",
                f"The port on this computer for {account.username} "
                f"({account.environment.value}): your programs reach its gateway at "
                "https://localhost:PORT. Each account has its own.",
                account.local_port or 5000, 1024, 65535)
            return (bool(ok and port != account.local_port), port)
        wanted = ServerAction.parse(action)
        if wanted is not None and wanted.ask is Ask.CONFIRMATION:
            return self.confirm(account, action), None
        return True, None

    async def perform(self, account_id: str, action: str, *, confirmed: bool = False,
                      value: Any = None) -> bool:
        """Carry the action out (`confirmed`: what it needed was asked, `value` given)."""
        account = self.model.account(account_id)
        if account is None:
            return False
        if not confirmed:
            go, value = self.ask_first(account, action)
            if not go:
                return False
        if action == "password":
            try:
                await self.controller.change_password(account_id, value)
            except IbdeskError as exc:
                dialogs.warning(self, "New password", exc.user_message)
                return False
            await self._apply()
            return True
        if action == "copy_url":
            url = f"https://localhost:{account.local_port}"
            QApplication.clipboard().setText(url)
            self.statusBar().showMessage(f"Copied {url} ({account.id}).", 5000)
            return True
        if action == "port":
            try:
                await self.controller.set_local_port(account_id, value)
            except IbdeskError as exc:
                dialogs.warning(self, "Local port", exc.user_message)
                return False
            self.statusBar().showMessage(f"{account.id} is now at https://localhost:{value}.")
            return True
        if action == "schedule":
            try:
                view = await self.controller.schedule_view(account_id)
            except IbdeskError as exc:
                dialogs.warning(self, "Schedule", exc.user_message)
                return False
            self.open_schedule(view)
            return True
        if action == "diagnose":
            self.open_diagnose(account_id, f"{account.username} ({account.environment.value})")
            return True
        if action == "logs":
            self.open_logs(account_id, f"{account.username} ({account.environment.value})")
            return True
        if action == "tunnel":
            try:
                if self.controller.tunnel_port(account_id) or \
                        self.controller.tunnel_waiting(account_id):
                    await self.controller.close_tunnel(account_id)
                else:
                    await self.controller.open_tunnel(account_id)
            except IbdeskError as exc:
                dialogs.warning(self, "Tunnel", exc.user_message)
                return False
            return True
        return await self.controller.run_action(account_id, action)

    def confirm(self, account: Account, action: str) -> bool:
        if action == "delete":
            text = (f"Delete {account.username} ({account.environment.value})?\n\nIts server "
                    f"{account.do_droplet_name or ''} is destroyed for good and billing stops.")
            if account.environment is Environment.LIVE:
                typed, ok = QInputDialog.getText(
                    self, "Delete live account", text + f"\n\nType {account.id} to confirm:")
                if ok and typed.strip() != account.id:  # said, not a silent close
                    QMessageBox.warning(self, "Delete live account",
                                        f"That was not {account.id}; nothing was deleted.")
                return ok and typed.strip() == account.id
            return QMessageBox.question(  # No is the default: Enter must not destroy it
                self, "Delete account", text,
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No) == \
                QMessageBox.StandardButton.Yes
        verb = {"stop": "Stop", "restart": "Restart"}[action]
        return QMessageBox.question(
            self, f"{verb} server",
            f"{verb} the server of {account.username}? Its gateway goes offline"
            + (" until you start it again; DigitalOcean still bills a stopped server."
               if action == "stop" else " for a minute or two.")) == \
            QMessageBox.StandardButton.Yes

    def open_diagnose(self, account_id: str | None, title: str) -> Any:
        """The Diagnose view for an account (None: this computer and the token)."""
        from ibdesk.ui.diagnose_dialog import DiagnoseDialog

        dialog = self.diagnose_dialogs.get(account_id)
        if dialog is None:
            dialog = DiagnoseDialog(self.controller, account_id, title, parent=self)
            dialog.password_requested.connect(self._on_password_requested)
            self.diagnose_dialogs[account_id] = dialog
        dialog.show()
        dialog.raise_()
        dialog.run()
        return dialog

    def open_logs(self, account_id: str, title: str) -> Any:
        """IBeam's log for the account, in a window of its own (one per account)."""
        from ibdesk.ui.log_dialog import LogDialog

        dialog = self.log_dialogs.get(account_id)
        if dialog is None:
            dialog = LogDialog(self.controller, account_id, title, parent=self)
            self.log_dialogs[account_id] = dialog
        dialog.show()
        dialog.raise_()
        dialog.refresh()
        return dialog

    def _on_password_requested(self, account_id: str) -> None:
        account = self.model.account(account_id)
        if account is None:
            return
        go, password = self.ask_first(account, "password")  # asked outside any task
        if go:
            spawn(self._new_password_then_recheck(account_id, password))

    async def _new_password_then_recheck(self, account_id: str, password: str) -> None:
        if await self.perform(account_id, "password", confirmed=True, value=password):
            dialog = self.diagnose_dialogs.get(account_id)
            if dialog is not None:
                dialog.recheck_after_login()

    def open_schedule(self, view: Any) -> Any:
        from ibdesk.ui.schedule_dialog import ScheduleDialog

        dialog = ScheduleDialog(self.controller, view, self)
        dialog.open()
        return dialog

    def open_report(self) -> Any:
        from ibdesk.ui.report_dialog import ReportDialog

        dialog = ReportDialog(self.controller, self)
        dialog.open()
        dialog.load()
        return dialog

    def open_settings(self) -> Any:
        from ibdesk.ui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.controller, self)
        dialog.open()
        return dialog

    def open_wizard(self) -> None:
        spawn(self._open_wizard())

    async def _open_wizard(self) -> None:
        if self.wizard is not None and self.wizard.isVisible():
            self.wizard.raise_()
            return
        from ibdesk.ui.connect_wizard import ConnectWizard  # loaded when first needed

        token_known = await self.controller.has_token()
        self.wizard = ConnectWizard(self.controller, token_known=token_known, parent=self)
        self.wizard.account_connected.connect(lambda account: self.select(account.id))
        self.wizard.show()

    async def start(self) -> None:
        await self.reload()
        self.controller.start_monitor()

    def restore_state(self, data: dict[str, Any] | None) -> None:
        """Where the window was and how it was split, from the last run's snapshot."""
        from ibdesk.ui import snapshot

        geometry = snapshot.saved_bytes(data, "geometry")
        if geometry:
            self.restoreGeometry(geometry)
        splitter = snapshot.saved_bytes(data, "splitter")
        if splitter:
            self.splitter.restoreState(splitter)

    def show_again(self) -> None:
        """From the tray: where it was when hidden (a hidden window shown again could
        come back at the screen's corner, its title bar off screen)."""
        if self._hidden_geometry is not None:
            self.restoreGeometry(self._hidden_geometry)
        self.showNormal()
        self.raise_()
        self.activateWindow()

    async def _save_snapshot(self) -> None:
        """What the table shows, for the next start's first paint (see ui/snapshot.py)."""
        from ibdesk.ui import snapshot

        columns = range(self.model.columnCount())  # the rows as shown, in their order
        rows = [[self.model.text(row, column) for column in columns]
                for row in self.rows.shown_rows()]
        try:
            widths = [self.table.columnWidth(c) for c in columns]
            geometry = bytes(self._hidden_geometry or self.saveGeometry().data())
            await asyncio.to_thread(snapshot.write, self.controller.rt.settings.home, rows,
                                    title=self.windowTitle(), widths=widths,
                                    geometry=geometry,
                                    splitter=bytes(self.splitter.saveState().data()))
        except OSError as exc:
            log.warning("could not save the window snapshot: %s", exc.strerror)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        """The first close hides the window at once and starts the shutdown as a task;
        that task closes the window for good when the monitor process has stopped.
        (qasync's asyncClose would instead spin processEvents in a nested loop, a busy
        core for as long as the worker takes to stop.)"""
        if self._shut_down:
            event.accept()
            return
        event.ignore()
        if self.isVisible():
            self._hidden_geometry = self.saveGeometry()
        self.hide()
        if not self._quitting and self.tray is not None and self.tray.isVisible():
            # with a tray, closing the window is not quitting: tunnels, monitoring and
            # notifications go on (said once per installation)
            self._hint_tray_once()
            return
        if self._shutdown_task is None:
            self._shutdown_task = asyncio.ensure_future(self._shutdown())

    TRAY_HINT = "tray-hint-shown"

    def _hint_tray_once(self) -> None:
        marker = self.controller.rt.settings.home / self.TRAY_HINT
        if marker.exists() or self.tray is None:
            return
        self.tray.hint("ibdesk keeps running in the tray",
                       "Tunnels stay open and your accounts are still watched. Quit from "
                       "the tray's menu, or with Ctrl+Q in the window.")
        with contextlib.suppress(OSError):
            create_private(marker)

    def request_quit(self) -> bool:
        """Quit, after asking when tunnels are open (programs would lose their gateway)."""
        tunnels = self.controller.open_tunnels()
        if tunnels:
            urls = ", ".join(f"https://localhost:{port}" for port in tunnels.values())
            answer = QMessageBox.question(
                self, "Quit ibdesk?",
                f"{len(tunnels)} tunnel(s) close ({urls}) and the programs using them lose "
                "their gateway. Your servers keep running on DigitalOcean (and billing).",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                return False
        self._quitting = True
        self.close()
        return True

    async def _shutdown(self) -> None:
        try:
            self._ages.stop()
            if self.tray is not None:
                self.tray.hide()
            if self.wizard is not None:
                self.wizard.close()
            for dialog in [*self.diagnose_dialogs.values(), *self.log_dialogs.values()]:
                dialog.close()
            await self._save_snapshot()
            await self.controller.close()
        finally:
            self._shut_down = True
            self.close()
            self.closed.emit()


__all__ = ["MainWindow"]
