"""The selected account, in detail: what its status means, what to do, its history, its
gateway's latency, its server's facts, and the actions that apply right now.

It holds no state of its own beyond what it shows: `show_account` fills it from the
domain objects, and the buttons emit requests the main window carries out.

Signals:
    action_requested(str, str): account id, action (start | stop | restart | delete | tunnel
        | diagnose | logs | password | resume)
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QModelIndex, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from ibdesk.domain.actions import ServerAction, allowed_actions
from ibdesk.domain.models import Account, ServerStatus, StatusDetail, StatusEvent
from ibdesk.domain.schedule import ScheduleMode
from ibdesk.ui import status_style
from ibdesk.ui.account_table_model import (
    AccountRole,
    AccountTableModel,
    Session,
    age,
    gateway_text,
)

SCHEDULE_LABEL = "&When it runs…"
SCHEDULE_TIP = ("The schedule: always on, or trading hours (powered off or rebuilt out of "
                "hours), and idle shutdown, with what each costs a month.")


class LatencyChart(QWidget):
    """The gateway's round-trip time over the last probes, as a line."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._points: list[float] = []
        self.setMinimumHeight(70)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setAccessibleName("Gateway latency chart")

    def set_points(self, points: Sequence[float]) -> None:
        self._points = list(points)
        tip = (f"Last {len(self._points)} probes: latest {self._points[-1]:.0f} ms, "
               f"median {sorted(self._points)[len(self._points) // 2]:.0f} ms"
               if self._points else "No probe yet")
        self.setToolTip(tip)
        self.setAccessibleDescription(tip)
        self.update()

    def paintEvent(self, event: object) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = self.rect().adjusted(4, 4, -4, -18)
        text = self.palette().color(QPalette.ColorRole.PlaceholderText)
        p.setPen(QPen(text, 1))
        p.drawLine(rect.bottomLeft(), rect.bottomRight())
        if len(self._points) < 2:
            p.drawText(self.rect().adjusted(4, 0, 0, -2),
                       Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignLeft,
                       "Latency appears after a few checks")
            return
        top = max(self._points) * 1.15 or 1.0
        step = rect.width() / (len(self._points) - 1)
        path = QPainterPath()
        for i, value in enumerate(self._points):
            point = QPointF(rect.left() + i * step, rect.bottom() - value / top * rect.height())
            path.moveTo(point) if i == 0 else path.lineTo(point)
        p.setPen(QPen(QColor(status_style.text_colour("accent")), 2))
        p.drawPath(path)
        p.setPen(QPen(text, 1))
        p.drawText(self.rect().adjusted(4, 0, -4, -2),
                   Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignLeft,
                   f"latest {self._points[-1]:.0f} ms")
        p.drawText(self.rect().adjusted(4, 0, -4, -2),
                   Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignRight,
                   f"max {max(self._points):.0f} ms")


class StatusPanel(QWidget):
    action_requested = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._account: Account | None = None
        self._model: AccountTableModel | None = None
        self._watched: str | None = None
        self.setMinimumWidth(360)
        # Long reasons and fixes (a refused login is worded with what to check) must not
        # squash the facts below them into each other: the panel scrolls instead.
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(12, 8, 8, 8)
        scroll.setWidget(content)
        outer.addWidget(scroll)

        self._build_heading(layout)
        self._build_buttons(layout)
        self._build_port_row(layout)
        self._build_facts(layout)
        self._build_chart_and_history(layout)
        self.apply_theme()
        self.show_account(None, None)

    def _build_heading(self, layout: QVBoxLayout) -> None:
        """The account, its status and reason, what to do, and a warning."""
        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.title.setWordWrap(True)
        self.title.setAccessibleName("Account")
        layout.addWidget(self.title)

        status_row = QHBoxLayout()
        self.status_icon = QLabel()
        self.status_icon.setFixedSize(28, 28)
        self.status_text = QLabel()
        self.status_text.setWordWrap(True)
        self.status_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status_text.setAccessibleName("Status")
        status_row.addWidget(self.status_icon, 0, Qt.AlignmentFlag.AlignTop)
        status_row.addWidget(self.status_text, 1)
        layout.addLayout(status_row)

        self.fix = QLabel()
        self.fix.setWordWrap(True)
        self.fix.setAccessibleName("What to do")
        self.fix.setFrameShape(QFrame.Shape.StyledPanel)
        self.fix.setContentsMargins(8, 6, 8, 6)
        layout.addWidget(self.fix)
        self.warning = QLabel()
        self.warning.setWordWrap(True)
        self.warning.setAccessibleName("Warning")
        layout.addWidget(self.warning)

    def _build_buttons(self, layout: QVBoxLayout) -> None:
        """One button per server action, the progress bar under them."""
        buttons = QGridLayout()
        self.buttons: dict[ServerAction, QPushButton] = {}
        for i, action in enumerate(ServerAction):
            button = QPushButton(action.label)
            button.setAccessibleName(action.label.replace("&", "").rstrip("…"))
            button.clicked.connect(lambda _=False, a=action: self._request(a))
            buttons.addWidget(button, i // 3, i % 3)
            self.buttons[action] = button
        layout.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setTextVisible(True)
        self.progress.setAccessibleName("Action in progress")
        self.progress.hide()
        layout.addWidget(self.progress)

    def _build_port_row(self, layout: QVBoxLayout) -> None:
        """The account's local gateway address, with Copy URL and Change port."""
        port_row = QHBoxLayout()
        self.tunnel = QLabel()
        self.tunnel.setWordWrap(True)
        self.tunnel.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.tunnel.setAccessibleName("Local gateway")
        port_row.addWidget(self.tunnel, 1)
        self.copy_url = QPushButton("Cop&y URL")
        self.copy_url.setAccessibleName("Copy URL")
        self.copy_url.setToolTip("Copies this account's https://localhost address, for your "
                                 "program's settings.")
        self.copy_url.clicked.connect(lambda: self._request("copy_url"))
        self.change_port = QPushButton("C&hange port…")
        self.change_port.setAccessibleName("Change port")
        self.change_port.setToolTip("Gives this account another port on this computer (each "
                                    "account has its own).")
        self.change_port.clicked.connect(lambda: self._request("port"))
        port_row.addWidget(self.copy_url, 0, Qt.AlignmentFlag.AlignTop)
        port_row.addWidget(self.change_port, 0, Qt.AlignmentFlag.AlignTop)
        self.port_row = QWidget()
        self.port_row.setLayout(port_row)
        port_row.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.port_row)

    def _build_facts(self, layout: QVBoxLayout) -> None:
        facts_box = QGroupBox("Server")
        self.facts = QFormLayout(facts_box)
        self.fact_labels: dict[str, QLabel] = {}
        for key in ("Gateway", "Droplet", "Size", "Image", "Region", "Address", "Created",
                    "Cost", "Schedule", "Checked"):
            label = QLabel("—")
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setAccessibleName(key)
            label.setWordWrap(True)
            if key == "Schedule":
                row = QHBoxLayout()
                row.addWidget(label, 1)
                self.schedule_button = QPushButton(SCHEDULE_LABEL)
                self.schedule_button.setAccessibleName("Schedule")
                self.schedule_button.setToolTip(SCHEDULE_TIP)
                self.schedule_button.clicked.connect(lambda: self._request("schedule"))
                row.addWidget(self.schedule_button, 0, Qt.AlignmentFlag.AlignTop)
                self.facts.addRow(f"{key}:", row)
            else:
                self.facts.addRow(f"{key}:", label)
            self.fact_labels[key] = label
        layout.addWidget(facts_box)

    def _build_chart_and_history(self, layout: QVBoxLayout) -> None:
        chart_box = QGroupBox("Gateway latency")
        chart_layout = QVBoxLayout(chart_box)
        self.chart = LatencyChart()
        chart_layout.addWidget(self.chart)
        layout.addWidget(chart_box)

        history_box = QGroupBox("History")
        history_layout = QVBoxLayout(history_box)
        self.history = QListWidget()
        self.history.setAccessibleName("Status history")
        self.history.setWordWrap(True)
        self.history.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.history.setMinimumHeight(120)
        history_layout.addWidget(self.history)
        layout.addWidget(history_box, 1)

    def apply_theme(self) -> None:
        """Colours that must read on the current (light or dark) background."""
        self.warning.setStyleSheet(status_style.text_style("warning"))
        self.chart.update()

    # ------------------------------------------------------------------ filling
    def show_account(self, account: Account | None, detail: StatusDetail | None, *,
                     busy_action: str | None = None, tunnel_port: int = 0,
                     tunnel_waiting: int = 0, resumable: bool = False) -> None:
        self._account = account
        if account is None:
            self.title.setText("<b>No account selected</b>")
            self.status_icon.clear()
            self.status_text.setText("Select an account in the list to see its server here.")
            for widget in (self.fix, self.warning, self.progress, self.port_row):
                widget.hide()
            for button in self.buttons.values():
                button.setEnabled(False)
            self.buttons[ServerAction.PASSWORD].hide()
            self.buttons[ServerAction.RESUME].hide()
            for label in self.fact_labels.values():
                label.setText("—")
            self.schedule_button.setEnabled(False)
            self.history.clear()
            self.chart.set_points([])
            return
        status = account.do_server_status
        self.title.setText(f"<b>{account.username}</b> · {account.environment.value} · "
                           f"<span style='color:gray'>{account.id}</span>")
        self.status_icon.setPixmap(status_style.icon(status).pixmap(28, 28))
        reason = detail.reason if detail else ""
        self.status_text.setText(f"<b>{status_style.LABELS[status]}</b>"
                                 + (f" — {reason}" if reason else ""))
        self.fix.setVisible(bool(detail and detail.fix))
        self.fix.setText(f"<b>What to do:</b> {detail.fix}" if detail and detail.fix else "")
        self.warning.setVisible(bool(detail and detail.warning))
        self.warning.setText(f"⚠ {detail.warning}" if detail and detail.warning else "")
        allowed = allowed_actions(account, busy=busy_action is not None, resumable=resumable)
        for action, button in self.buttons.items():
            button.setEnabled(action in allowed)
            button.setToolTip(action.when if busy_action is None else
                              f"Wait: {busy_action} is under way.")
            if action.only_when_allowed:
                button.setVisible(action in allowed)
        kept = tunnel_port or tunnel_waiting
        self.buttons[ServerAction.TUNNEL].setText("Close &tunnel" if kept else "Open &tunnel")
        if kept:
            self.buttons[ServerAction.TUNNEL].setEnabled(True)
        self.progress.setVisible(busy_action is not None)
        if busy_action:
            running = ServerAction.parse(busy_action)
            self.progress.setFormat(running.busy_label if running and running.busy_label
                                    else f"{busy_action.capitalize()}…")
        port = account.local_port
        self.port_row.setVisible(bool(kept or port))
        self.copy_url.setEnabled(bool(port))
        self.change_port.setEnabled(busy_action is None)
        # never a URL that does not answer: while the tunnel is being reopened, it says so
        warn = status_style.text_colour("warning")
        self.tunnel.setText(
            f"Gateway for your programs: <b>https://localhost:{tunnel_port}</b>" if tunnel_port
            else f"<span style='color:{warn}'>Tunnel down — reconnecting on "
                 f"localhost:{tunnel_waiting}…</span>" if tunnel_waiting
            else f"Local port <b>{port}</b>: Open tunnel to reach the gateway at "
                 f"https://localhost:{port}." if port else "")
        price = account.price_monthly
        destroyed = account.parked is ScheduleMode.REBUILD and not account.do_droplet_id
        schedule = account.schedule.describe()
        if account.parked is not None:
            schedule += (" · destroyed out of hours" if destroyed
                         else " · powered off by its schedule")
        facts = {
            "Gateway": gateway_text(detail),
            "Droplet": f"{account.do_droplet_name or '—'} (id {account.do_droplet_id})"
            if account.do_droplet_id else "destroyed until the next trading day's rebuild"
            if destroyed else "not created yet",
            "Size": account.do_size or "—", "Image": account.do_image or "—",
            "Region": account.do_region or "—", "Address": account.do_ip_address or "—",
            "Created": f"{account.created_at:%Y-%m-%d %H:%M}" if account.created_at else "—",
            "Cost": "nothing while destroyed" if destroyed and isinstance(price, int | float)
            else (f"${price:g} a month" + (" (billed while stopped too)"
                                           if status is ServerStatus.STOPPED else ""))
            if isinstance(price, int | float) else "—",
            "Schedule": schedule,
            "Checked": age(account.do_last_status_check),
        }
        for key, value in facts.items():
            self.fact_labels[key].setText(value)
        self.schedule_button.setEnabled(busy_action is None)

    def show_history(self, events: Sequence[StatusEvent]) -> None:
        self.history.clear()
        for event in reversed(events):
            item = QListWidgetItem(status_style.icon(event.status),
                                   f"{event.at.astimezone():%Y-%m-%d %H:%M:%S}  "
                                   f"{status_style.LABELS[event.status]} — {event.reason}")
            item.setToolTip(event.reason)
            self.history.addItem(item)

    def show_latency(self, points: Sequence[float]) -> None:
        """The gateway's latency over the last probes; none while the server is stopped or
        has no server (an old value would read as a gateway that answers)."""
        account = self._account
        if account is None or account.do_server_status in (ServerStatus.STOPPED,
                                                           ServerStatus.PROVISIONING):
            points = []
        self.chart.set_points(points)

    # ------------------------------------------------------------------ the model
    def set_model(self, model: AccountTableModel) -> None:
        """Show rows of `model` and follow them: any change of the watched row (its
        account, detail or session) is shown as it happens, whoever made it."""
        self._model = model
        model.dataChanged.connect(self._on_data_changed)
        model.modelReset.connect(self._show_watched)
        model.rowsRemoved.connect(self._show_watched)

    def show_row(self, account_id: str | None) -> None:
        """Watch the row of `account_id` (None: no account selected)."""
        self._watched = account_id
        self._show_watched()

    def _on_data_changed(self, top: QModelIndex, bottom: QModelIndex, *_: object) -> None:
        row = self._model.row_of(self._watched) if self._model and self._watched else None
        if row is not None and top.row() <= row <= bottom.row():
            self._show_watched()

    def _show_watched(self, *_: object) -> None:
        model = self._model
        row = model.row_of(self._watched) if model is not None and self._watched else None
        if model is None or row is None:
            self.show_account(None, None)
            return
        index = model.index(row, 0)
        session: Session = model.data(index, AccountRole.SESSION)
        self.show_account(model.data(index, AccountRole.ACCOUNT),
                          model.data(index, AccountRole.DETAIL), busy_action=session.busy,
                          tunnel_port=session.tunnel_port,
                          tunnel_waiting=session.tunnel_waiting, resumable=session.resumable)
        self.show_latency(list(session.latency))

    def refresh_age(self) -> None:
        """The "Checked" fact again (the table's ages count on; the panel's stood still)."""
        if self._account is not None:
            self.fact_labels["Checked"].setText(age(self._account.do_last_status_check))

    @property
    def account(self) -> Account | None:
        return self._account

    def _request(self, action: str) -> None:
        if self._account is not None:
            self.action_requested.emit(self._account.id, action)


__all__ = ["LatencyChart", "StatusPanel"]
