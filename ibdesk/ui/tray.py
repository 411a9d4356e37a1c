"""The tray icon: a summary of every account's status at a glance, and a desktop
notification when an account turns to `error` (a refused login among them), so a trader
learns about a broken gateway without the window open."""

from __future__ import annotations

from collections import Counter

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import QMenu, QSystemTrayIcon, QWidget

from ibdesk.domain.models import Account, ServerStatus
from ibdesk.ui import status_style


def summary(accounts: list[Account]) -> str:
    if not accounts:
        return "ibdesk — no account yet"
    counts = Counter(a.do_server_status for a in accounts)
    parts = [f"{counts[s]} {status_style.LABELS[s].lower()}" for s in ServerStatus if counts[s]]
    return "ibdesk — " + ", ".join(parts)


MENU_ACCOUNTS = 15
"""Accounts listed in the menu; the rest are counted."""


class Tray(QSystemTrayIcon):
    """Signals:
        action_requested(str, str): account id, action (tunnel | copy_url), as the panel's
    """

    action_requested = Signal(str, str)

    def __init__(self, icon: QIcon, window: QWidget) -> None:
        super().__init__(icon, window)
        self._window = window
        handler = getattr(window, "_on_action_requested", None)
        if handler is not None:  # the window carries them out, as the panel's buttons
            self.action_requested.connect(handler)
        menu = QMenu(window)
        show = QAction("Show ibdesk", menu)
        show.triggered.connect(self._show_window)
        quit_action = QAction("Quit ibdesk", menu)
        # the window's Quit: it asks when tunnels are open (a close only hides it)
        quit_action.triggered.connect(getattr(window, "request_quit", window.close))
        menu.addAction(show)
        menu.addSeparator()
        self._accounts_separator = menu.addSeparator()  # the accounts go above this one
        self._account_actions: list[QAction] = []
        self._listed: object = None
        menu.addAction(quit_action)
        self._menu = menu
        self.setContextMenu(menu)
        self.activated.connect(lambda reason: self._show_window()
                               if reason == QSystemTrayIcon.ActivationReason.Trigger else None)
        self.notifications: list[tuple[str, str]] = []
        self._summary = summary([])
        self._degraded: str | None = None

    def _show_window(self) -> None:
        show_again = getattr(self._window, "show_again", None)
        if show_again is not None:
            show_again()
            return
        self._window.showNormal()
        self._window.raise_()
        self._window.activateWindow()

    def update_summary(self, accounts: list[Account], *,
                       tunnels: dict[str, int] | None = None) -> None:
        self._summary = summary(accounts)
        self._show_tip()
        self._list_accounts(accounts, tunnels or {})

    def _list_accounts(self, accounts: list[Account], tunnels: dict[str, int]) -> None:
        """Each account's status in the menu, with its tunnel and URL (the first 15; the
        rest are counted): the gateway for a program, without opening the window."""
        entries = [(a.id, f"{a.username} ({a.environment.value}) — "
                          f"{status_style.LABELS[a.do_server_status]}"
                          + (" · tunnel open" if a.id in tunnels else ""),
                    a.local_port, a.id in tunnels,
                    a.do_server_status is ServerStatus.RUNNING or a.id in tunnels)
                   for a in accounts[:MENU_ACCOUNTS]]
        more = len(accounts) - MENU_ACCOUNTS
        key = (entries, more)
        if key == self._listed:
            return
        self._listed = key
        for action in self._account_actions:
            self._menu.removeAction(action)
        self._account_actions = []
        for account_id, line, port, open_now, can_tunnel in entries:
            sub = QMenu(line, self._menu)
            sub.setProperty("account_id", account_id)
            tunnel = sub.addAction(f"Close tunnel (localhost:{port})" if open_now
                                   else f"Open tunnel on localhost:{port}")
            tunnel.setEnabled(can_tunnel and bool(port))
            tunnel.triggered.connect(
                lambda _=False, i=account_id: self.action_requested.emit(i, "tunnel"))
            copy = sub.addAction(f"Copy https://localhost:{port}")
            copy.setEnabled(bool(port))
            copy.triggered.connect(
                lambda _=False, i=account_id: self.action_requested.emit(i, "copy_url"))
            action = sub.menuAction()
            self._menu.insertAction(self._accounts_separator, action)
            self._account_actions.append(action)
        if more > 0:
            action = QAction(f"… and {more} more", self._menu)
            action.setEnabled(False)
            self._menu.insertAction(self._accounts_separator, action)
            self._account_actions.append(action)

    def account_menu(self, account_id: str) -> QMenu | None:
        """The submenu of one account (tests, accessibility)."""
        for action in self._account_actions:
            menu = action.menu()
            if isinstance(menu, QMenu) and menu.property("account_id") == account_id:
                return menu
        return None

    def hint(self, title: str, text: str) -> None:
        self.notifications.append((title, text))
        if self.isVisible() and self.supportsMessages():
            self.showMessage(title, text, QSystemTrayIcon.MessageIcon.Information, 10000)

    def set_degraded(self, why: str | None) -> None:
        """Monitoring degraded (why) or whole again (None): in the tooltip for as long as
        it lasts, and a notification when it starts."""
        if why and why != self._degraded:
            self.notifications.append(("ibdesk: monitoring degraded", why))
            if self.isVisible() and self.supportsMessages():
                self.showMessage("ibdesk: monitoring degraded", why,
                                 QSystemTrayIcon.MessageIcon.Warning, 15000)
        self._degraded = why
        self._show_tip()

    def _show_tip(self) -> None:
        self.setToolTip(self._summary + (f"\nMonitoring degraded: {self._degraded}"
                                         if self._degraded else ""))

    def notify(self, title: str, text: str) -> None:
        self.notifications.append((title, text))
        if self.isVisible() and self.supportsMessages():
            self.showMessage(title, text, QSystemTrayIcon.MessageIcon.Information, 15000)

    def notify_error(self, account: Account, reason: str) -> None:
        title = f"{account.username} ({account.environment.value}): needs attention"
        self.notifications.append((title, reason))
        if self.isVisible() and self.supportsMessages():
            self.showMessage(title, reason, QSystemTrayIcon.MessageIcon.Warning, 15000)


__all__ = ["Tray", "summary"]
