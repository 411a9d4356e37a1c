"""The real window on the sandbox: the wizard driven to `running`, each action button, the
error displays. Message boxes are answered by the test (they would wait for a person)."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx
import pytest
import qasync
from PySide6.QtGui import QIcon, QKeySequence
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from ibdesk.domain.enums import ServerStatus
from ibdesk.services.runtime import Runtime
from ibdesk.services.watch.monitor import MonitorConfig
from ibdesk.ui import dialogs, snapshot
from ibdesk.ui.connect_wizard import PAGE_LOGIN, PAGE_PROGRESS, PAGE_REVIEW, PAGE_SERVER
from ibdesk.ui.controller import Controller
from ibdesk.ui.main_window import MainWindow
from ibdesk.ui.tray import Tray
from tests.helpers import run_scenario, until
from tests.helpers.e2e import request


@pytest.fixture
def window(loop: qasync.QEventLoop, sandboxed: Runtime, qtbot: QtBot):  # type: ignore[no-untyped-def]
    controller = Controller(sandboxed, MonitorConfig(fast_interval=0.2, slow_interval=0.5,
                                                     error_interval=0.5))
    win = MainWindow(controller)
    win.show()  # not given to qtbot: it would close the window before this fixture's end,
    yield win   # when the loop no longer runs to shut the monitor process down
    win._ages.stop()
    if win.wizard is not None:
        win.wizard.hide()
    loop.run_until_complete(controller.close())
    win.hide()
    win.deleteLater()


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    said: dict[str, list[str]] = {"question": [], "warning": []}

    def question(parent: object, title: str, text: str, *a: object) -> object:
        said["question"].append(text)
        return QMessageBox.StandardButton.Yes

    def warning(parent: object, title: str, text: str, *a: object) -> object:
        said["warning"].append(text)
        return QMessageBox.StandardButton.Ok

    async def ask(parent: object, title: str, text: str, **kw: object) -> bool:
        said["question"].append(text)
        return True

    monkeypatch.setattr(QMessageBox, "question", question)
    monkeypatch.setattr(QMessageBox, "warning", warning)
    monkeypatch.setattr(dialogs, "ask", ask)
    monkeypatch.setattr(dialogs, "warning", warning)
    return said


async def _wizard_to_progress(win: MainWindow, password: str = "p@per'pa$$"):  # type: ignore[no-untyped-def]
    """Start the window and take the wizard, as a trader would, to its progress page with
    paperjane's login (`password`) and the suggested server."""
    await win.start()
    await win._open_wizard()
    wizard = win.wizard
    assert wizard is not None
    wizard.login.username.setText("paperjane")
    wizard.login.password.setText(password)
    wizard.next()
    await until(wizard.server.isComplete)
    wizard.next()
    await until(lambda: wizard.currentId() == PAGE_REVIEW)
    wizard.next()
    return wizard


def _status(win: MainWindow, account_id: str) -> ServerStatus:
    row = win.model.row_of(account_id)
    assert row is not None
    return win.model.account_at(row).do_server_status


def test_wizard_to_running_then_every_action(window: MainWindow, loop: qasync.QEventLoop,
                                             sandboxed: Runtime,
                                             answers: dict[str, list[str]]) -> None:
    win = window

    async def scenario() -> None:
        await win.start()
        assert win.stack.currentIndex() == 0  # the first-run empty state
        assert "SANDBOX" in win.banner.text() and win.banner.isVisible()
        await win._open_wizard()
        wizard = win.wizard
        assert wizard is not None and wizard.currentId() == PAGE_LOGIN  # token already kept
        wizard.login.username.setText("paperjane")
        wizard.login.password.setText("p@per'pa$$")
        wizard.next()
        assert wizard.currentId() == PAGE_SERVER
        await until(wizard.server.isComplete)
        assert wizard.server.size_box.currentData().slug == "s-1vcpu-1gb"
        wizard.next()  # asks DigitalOcean whether region, size and image go together
        await until(lambda: wizard.currentId() == PAGE_REVIEW)
        # the image and its warning are said on the Server page and on Review, before Create
        assert "182556282 is not in this DigitalOcean account" in wizard.server.image_note.text()
        assert "ubuntu-24-04-x64" in wizard.server.image_note.text()
        assert "182556282 is not in this DigitalOcean account" in wizard.review.warnings.text()
        summary = wizard.review.summary.text()
        assert "$6 a month" in summary and "SSH only" in summary
        assert "ubuntu-24-04-x64" in summary and "IBeam 0.5.12" in summary
        wizard.next()
        assert wizard.currentId() == PAGE_PROGRESS
        await until(lambda: wizard.progress.done or wizard.progress.error.text())
        assert wizard.progress.done, wizard.progress.error.text()
        assert all(item.text().startswith("✓") for item in wizard.progress.items.values())
        # said once, on the server page, before anything was made
        assert not any("182556282" in w.text() for w in wizard.progress.warnings)
        await until(lambda: win.model.rowCount() == 1)
        account_id = win.model.account_at(0).id
        assert win.stack.currentIndex() == 1
        win.select(account_id)
        await win._show_selected()
        assert _status(win, account_id) is ServerStatus.RUNNING
        assert "Running" in win.panel.status_text.text()
        buttons = win.panel.buttons
        assert buttons["stop"].isEnabled() and buttons["tunnel"].isEnabled()
        assert not buttons["start"].isEnabled()
        assert win.panel.history.count() == 3

        assert await win.perform(account_id, "tunnel")
        assert win.controller.tunnel_port(account_id) > 0
        await win._show_selected()
        assert "https://localhost:" in win.panel.tunnel.text()
        assert await win.perform(account_id, "tunnel")  # closes it
        await until(lambda: win.controller.tunnel_port(account_id) == 0)

        assert await win.perform(account_id, "stop")
        assert "DigitalOcean still bills" in answers["question"][-1]
        await until(lambda: _status(win, account_id) is ServerStatus.STOPPED)
        await win._show_selected()
        assert buttons["start"].isEnabled() and not buttons["stop"].isEnabled()
        assert "billed while stopped" in win.panel.fact_labels["Cost"].text()

        assert await win.perform(account_id, "start")
        await until(lambda: _status(win, account_id) is ServerStatus.RUNNING)

        sandboxed.runner.sandbox.world.faults.fail_actions["reboot"] = 1  # type: ignore[attr-defined]
        assert not await win.perform(account_id, "restart")
        await until(lambda: answers["warning"])
        assert "reboot action failed" in answers["warning"][-1]
        # the failed action is an `error` in the history, with what to do; the next look
        # finds the gateway still logged in and says so
        history = await win.controller.history(account_id)
        failed = [e for e in history if e.status is ServerStatus.ERROR]
        assert failed and "reboot action failed" in failed[-1].reason
        await win._show_selected()
        assert any("reboot action failed" in win.panel.history.item(i).text()
                   for i in range(win.panel.history.count()))

        assert await win.perform(account_id, "delete")
        await until(lambda: win.model.rowCount() == 0)
        assert win.stack.currentIndex() == 0

    run_scenario(loop, scenario(), win.controller)


def test_wizard_shows_errors_on_their_page(window: MainWindow, loop: qasync.QEventLoop) -> None:
    win = window

    async def scenario() -> None:
        await win.start()
        await win._open_wizard()
        wizard = win.wizard
        assert wizard is not None
        login = wizard.login
        login.username.setText("livejoe")
        login.password.setText("pw")
        login.environment.setCurrentIndex(login.environment.findText("Live trading"))
        assert login.live_warning.isVisible()
        assert not login.validatePage()
        assert "2FA" in login.error.text()
        assert wizard.currentId() == PAGE_LOGIN

    run_scenario(loop, scenario(), win.controller)


def test_token_page_refuses_a_bad_token(loop: qasync.QEventLoop, sandboxed: Runtime,
                                        qtbot: QtBot) -> None:
    from ibdesk.secrets import DO_TOKEN
    from ibdesk.ui.connect_wizard import PAGE_TOKEN, ConnectWizard

    sandboxed.secrets.delete(DO_TOKEN)
    controller = Controller(sandboxed)
    wizard = ConnectWizard(controller, token_known=False)
    qtbot.addWidget(wizard)
    wizard.show()
    assert wizard.currentId() == PAGE_TOKEN
    wizard.token.token.setText("dop_v1_wrong")
    assert not loop.run_until_complete(wizard.token.check())
    assert "does not accept this API token" in wizard.token.error.text()
    wizard.token.token.setText(sandboxed.runner.sandbox.token)  # type: ignore[attr-defined]
    assert loop.run_until_complete(wizard.token.check())
    assert "sandbox@ibdesk.invalid" in wizard.token.result.text()
    assert wizard.currentId() == PAGE_LOGIN
    loop.run_until_complete(controller.monitor.close())


def test_the_window_asks_before_opening_ssh_to_everyone(window: MainWindow,
                                                         loop: qasync.QEventLoop,
                                                         sandboxed: Runtime,
                                                         answers: dict[str, list[str]]) -> None:
    """This computer's address cannot be found: the wizard asks (the test answers Yes),
    and only then is the new server's SSH open to all (issue 13, point 9)."""
    win = window
    sandboxed.settings = sandboxed.settings.model_copy(
        update={"public_ip_url": "http://127.0.0.1:9/"})
    sandbox = sandboxed.runner.sandbox  # type: ignore[attr-defined]

    async def scenario() -> None:
        wizard = await _wizard_to_progress(win)
        await until(lambda: wizard.progress.done or wizard.progress.error.text())
        assert wizard.progress.done, wizard.progress.error.text()
        (asked,) = [q for q in answers["question"] if "from any address" in q]
        assert "could not find this computer's public IPv4 address" in asked
        (firewall,) = sandbox.world.firewalls.values()
        assert firewall.inbound_rules[0]["sources"]["addresses"] == ["0.0.0.0/0", "::/0"]

    run_scenario(loop, scenario(), win.controller)


def test_the_tunnel_is_shown_down_then_back_on_its_port_after_a_restart(
        window: MainWindow, loop: qasync.QEventLoop, sandboxed: Runtime,
        answers: dict[str, list[str]]) -> None:
    """Issue 14, point 2, in the window: while the server restarts, the panel does not
    show a tunnel that does not answer; then the same URL is back by itself."""
    win = window

    async def scenario() -> None:
        await win.start()
        account = await win.controller.connect_account(request("paper"), lambda _: None)
        await until(lambda: win.model.row_of(account.id) is not None
                    and _status(win, account.id) is ServerStatus.RUNNING)
        win.select(account.id)
        ports: list[int] = []
        win.controller.tunnel_changed.connect(lambda _id, port: ports.append(port))
        assert await win.perform(account.id, "tunnel")
        port = win.controller.tunnel_port(account.id)
        assert port > 0
        assert await win.perform(account.id, "restart")
        await until(lambda: 0 in ports, timeout=30)  # said down…
        if win.controller.tunnel_waiting(account.id):
            await win._show_selected()
            assert "Tunnel down — reconnecting on localhost:" in win.panel.tunnel.text()
            assert win.panel.buttons["tunnel"].text() == "Close &tunnel"
        await until(lambda: win.controller.tunnel_port(account.id) == port, timeout=30)
        await win._show_selected()
        assert f"https://localhost:{port}" in win.panel.tunnel.text()  # …and back
        assert ports[-1] == port

    run_scenario(loop, scenario(), win.controller)


def test_with_a_tray_closing_hides_and_quit_asks_about_tunnels(
        window: MainWindow, loop: qasync.QEventLoop, sandboxed: Runtime,
        answers: dict[str, list[str]]) -> None:
    """Issue 14, point 4: closing the window quit everything, tunnels and monitoring
    included, with no word; Ctrl+Q did nothing."""
    win = window
    win.tray = Tray(QIcon(), win)
    # offscreen has no system tray to show it in: as on a desktop where it is shown
    win.tray.isVisible = lambda: True  # type: ignore[method-assign]

    async def scenario() -> None:
        await win.start()
        account = await win.controller.connect_account(request("paper"), lambda _: None)
        await until(lambda: win.model.row_of(account.id) is not None)
        assert await win.perform(account.id, "tunnel")
        port = win.controller.tunnel_port(account.id)
        win.close()  # the window's close button
        await asyncio.sleep(0.3)
        assert not win.isVisible() and win._shutdown_task is None  # hidden, not quitting
        assert win.controller.tunnel_port(account.id) == port  # the tunnel goes on
        assert win.tray is not None
        assert win.tray.notifications[-1][0] == "ibdesk keeps running in the tray"
        win.close()  # said once per installation
        await asyncio.sleep(0.1)
        assert sum(t == "ibdesk keeps running in the tray"
                   for t, _ in win.tray.notifications) == 1
        assert QKeySequence("Ctrl+Q") in win.quit_action.shortcuts()
        win.quit_action.trigger()  # Ctrl+Q
        (asked,) = [q for q in answers["question"] if "tunnel(s) close" in q]
        assert f"https://localhost:{port}" in asked and "keep running" in asked
        assert win._shutdown_task is not None
        await win._shutdown_task  # the answer was Yes: everything shuts down

    run_scenario(loop, scenario(), win.controller)


@pytest.mark.parametrize("choice", ["delete", "background"])
def test_closing_the_wizard_mid_setup_asks_and_leaves_nothing_half_made(
        window: MainWindow, loop: qasync.QEventLoop, sandboxed: Runtime,
        monkeypatch: pytest.MonkeyPatch, choice: str) -> None:
    """Issue 14, point 5: Esc while the server booted closed the wizard unasked and left
    the account "Setting up", billed, with no way on."""
    from ibdesk.ui.connect_wizard import ConnectWizard, LeaveChoice

    asked: list[str] = []

    def ask(self: ConnectWizard) -> LeaveChoice:
        asked.append("asked")
        return LeaveChoice(choice)

    monkeypatch.setattr(ConnectWizard, "ask_leave", ask)
    win = window
    sandbox = sandboxed.runner.sandbox  # type: ignore[attr-defined]

    async def scenario() -> None:
        wizard = await _wizard_to_progress(win)
        await until(lambda: wizard.progress.account_id is not None)
        account_id = wizard.progress.account_id
        wizard.reject()  # Esc
        assert asked == ["asked"] and not wizard.isVisible()
        if choice == "delete":
            assert wizard.stopping is not None
            await wizard.stopping
            assert sandboxed.repository.get_account(account_id) is None
            assert not [d for d in sandbox.world.droplets.values()
                        if f"ibdesk:{account_id}" in d.tags]
        else:  # it goes on, and the account gets to running by itself
            await until(lambda: win.model.row_of(account_id) is not None
                        and _status(win, account_id) is ServerStatus.RUNNING, timeout=60)

    run_scenario(loop, scenario(), win.controller)


def test_keys_tooltips_and_confirmations_a_keyboard_user_meets(
        window: MainWindow, monkeypatch: pytest.MonkeyPatch) -> None:
    """From issue 14's walk-through: Alt+T was Stop and Open tunnel, Alt+D Delete and
    Diagnose; Tab was trapped in the table; disabled buttons said nothing; Delete
    defaulted to Yes; a wrong live-delete confirmation closed silently."""
    from PySide6.QtWidgets import QInputDialog

    from ibdesk.domain.models import Account

    win = window
    texts = [a.text() for a in (win.connect_action, win.refresh_action, win.diagnose_action,
                                win.settings_action, win.about_action, win.quit_action)]
    texts += [b.text() for b in win.panel.buttons.values()]
    texts += [win.panel.copy_url.text(), win.panel.change_port.text()]
    keys = [t[t.index("&") + 1].lower() for t in texts if "&" in t]
    assert len(keys) == len(texts) and len(set(keys)) == len(keys), texts
    assert not win.table.tabKeyNavigation()
    from PySide6.QtGui import QAction

    # macOS's application menu takes Quit, Settings and About by their roles
    assert win.quit_action.menuRole() is QAction.MenuRole.QuitRole
    assert win.settings_action.menuRole() is QAction.MenuRole.PreferencesRole
    assert win.settings_action.shortcuts()  # the README's Ctrl+, did nothing on Linux
    stopped = Account(id="ib-paper-0a0b0c0d", username="u", environment="paper",
                      do_droplet_id=1, do_server_status=ServerStatus.STOPPED)
    win.panel.show_account(stopped, None)
    stop = win.panel.buttons["stop"]
    assert not stop.isEnabled() and "Not while" in stop.toolTip()
    asked: list[tuple[object, ...]] = []

    def question(*args: object) -> object:
        asked.append(args)
        return QMessageBox.StandardButton.No

    monkeypatch.setattr(QMessageBox, "question", question)
    assert not win.confirm(stopped, "delete")
    assert asked[-1][-1] == QMessageBox.StandardButton.No  # the default button
    warned: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a: warned.append(str(a[2])))
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("ib-live-wrong", True))
    live = Account(id="ib-live-0a0b0c0d", username="u", environment="live", do_droplet_id=1,
                   do_server_status=ServerStatus.STOPPED)
    assert not win.confirm(live, "delete")
    assert warned and "nothing was deleted" in warned[-1]


def test_the_panels_age_counts_and_a_stopped_server_shows_no_latency(
        window: MainWindow) -> None:
    """From issue 14's walk-through: "Checked 0 s ago" stood still in the panel while the
    table counted on, and the latency chart showed the last value of a stopped server."""
    from datetime import UTC, datetime, timedelta

    from ibdesk.domain.models import Account

    win = window
    running = Account(id="ib-paper-0a0b0c0d", username="u", environment="paper",
                      do_droplet_id=1, do_server_status=ServerStatus.RUNNING,
                      do_last_status_check=datetime.now(UTC) - timedelta(seconds=3))
    win.panel.show_account(running, None)
    win.panel.show_latency([12.0, 14.0])
    assert win.panel.chart._points == [12.0, 14.0]
    checked = win.panel.fact_labels["Checked"]
    assert checked.text() == "3 s ago"
    win.panel._account = running.model_copy(update={
        "do_last_status_check": datetime.now(UTC) - timedelta(seconds=75)})
    win._tick_ages()  # what the window's 5-second timer runs
    assert checked.text() == "1 min ago"
    stopped = running.model_copy(update={"do_server_status": ServerStatus.STOPPED})
    win.panel.show_account(stopped, None)
    win.panel.show_latency([12.0, 14.0])
    assert list(win.panel.chart._points) == []


def test_a_refused_login_reaches_the_tray(window: MainWindow, loop: qasync.QEventLoop,
                                          sandboxed: Runtime) -> None:
    """The trader changed the password at IBKR: the monitor process sees IBeam's login
    refused, the row turns to error, and the tray says so in words (offscreen has no system
    tray, so the test gives the window one whose notifications it can read)."""
    win = window
    win.tray = Tray(QIcon(), win)
    sandbox = sandboxed.runner.sandbox  # type: ignore[attr-defined]

    async def scenario() -> None:
        await win.start()
        account = await win.controller.connect_account(request("paper"), lambda _: None)
        await until(lambda: win.model.row_of(account.id) is not None
                    and _status(win, account.id) is ServerStatus.RUNNING)
        assert win.tray is not None and win.tray.notifications == []
        admin = f"{sandbox.api_url}/_sandbox/v1"
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {sandbox.token}"}) as c:
            (await c.post(f"{admin}/users/{account.username}",
                          json={"password": "changed-at-ibkr"})).raise_for_status()
            (await c.post(f"{admin}/droplets/{account.do_droplet_id}/gateway",
                          json={"session_reset": True})).raise_for_status()
        await until(lambda: win.tray is not None and win.tray.notifications, timeout=60)
        title, reason = win.tray.notifications[-1]
        assert account.username in title and "refused the username or password" in reason
        await until(lambda: _status(win, account.id) is ServerStatus.ERROR)
        assert "1 error" in win.tray.toolTip()
        assert "changed-at-ibkr" not in title + reason + win.tray.toolTip()

    run_scenario(loop, scenario(), win.controller)


def test_monitoring_degraded_is_shown_until_it_is_whole(window: MainWindow,
                                                        loop: qasync.QEventLoop,
                                                        sandboxed: Runtime) -> None:
    """The token revoked at DigitalOcean: a standing banner and the tray say monitoring is
    degraded and why, while the gateway is still probed; both go when it is whole."""
    win = window
    win.tray = Tray(QIcon(), win)
    sandbox = sandboxed.runner.sandbox  # type: ignore[attr-defined]
    tokens = list(sandbox.world.config.tokens)

    async def scenario() -> None:
        await win.start()
        account = await win.controller.connect_account(request("paper"), lambda _: None)
        await until(lambda: win.model.row_of(account.id) is not None
                    and _status(win, account.id) is ServerStatus.RUNNING)
        first = win.model.account_at(win.model.row_of(account.id) or 0).do_last_status_check
        await until(lambda: win.model.account_at(win.model.row_of(account.id) or 0)
                    .do_last_status_check != first)  # the monitor has its droplet list
        assert not win.degraded_banner.isVisible()
        sandbox.world.config.tokens.clear()
        await until(win.degraded_banner.isVisible, timeout=60)
        text = win.degraded_banner.text()
        assert "Monitoring degraded" in text and "refused the API token" in text
        assert win.tray is not None and "Monitoring degraded" in win.tray.toolTip()
        assert win.tray.notifications[-1][0] == "ibdesk: monitoring degraded"
        checked = win.model.account_at(win.model.row_of(account.id) or 0).do_last_status_check
        await until(lambda: win.model.account_at(win.model.row_of(account.id) or 0)
                    .do_last_status_check != checked, timeout=60)  # still probed
        assert sandbox.token not in text + win.tray.toolTip()
        sandbox.world.config.tokens[:] = tokens
        await until(lambda: not win.degraded_banner.isVisible(), timeout=60)
        assert "degraded" not in win.tray.toolTip()

    try:
        run_scenario(loop, scenario(), win.controller)
    finally:
        sandbox.world.config.tokens[:] = tokens


def test_closing_hides_at_once_then_shuts_everything_down(window: MainWindow,
                                                          loop: qasync.QEventLoop,
                                                          sandboxed: Runtime) -> None:
    """Close without a nested event loop: the window disappears on the first close, the
    monitor process stops, the snapshot is written, and only then does `closed` fire.
    A second close while that runs starts nothing new."""
    win = window

    async def scenario() -> None:
        await win.start()
        account = await win.controller.connect_account(request("paper"), lambda _: None)
        await until(lambda: win.model.row_of(account.id) is not None)
        process = win.controller.monitor._process
        await until(lambda: process is not None and process.processId() > 0)
        assert process is not None
        pid = process.processId()
        closed = asyncio.Event()
        win.closed.connect(closed.set)
        win.close()
        assert not win.isVisible() and not closed.is_set()  # gone at once, still stopping
        first = win._shutdown_task
        win.close()  # pressed again while shutting down
        assert win._shutdown_task is first
        await asyncio.wait_for(closed.wait(), 30)
        assert not win.isVisible()
        assert win.controller.monitor._process is None
        try:
            os.kill(pid, 0)
            gone = False
        except ProcessLookupError:
            gone = True
        assert gone, "the monitor process outlived the window"
        data = snapshot.read(sandboxed.settings.home)
        assert data is not None and data["rows"][0][0] == "paperjane"

    run_scenario(loop, scenario(), win.controller)


def test_each_account_has_its_own_port_in_the_wizard_the_panel_and_the_next_start(
        window: MainWindow, loop: qasync.QEventLoop, sandboxed: Runtime,
        answers: dict[str, list[str]]) -> None:
    """Issue 14, point 3 in the window: the wizard's Review promised localhost:5000 to every
    new account, and tunnels were not reopened when the app started again."""
    from PySide6.QtWidgets import QApplication

    win = window

    async def scenario() -> None:
        await win.start()
        account = await win.controller.connect_account(request("paper"), lambda _: None)
        port = account.local_port
        assert port is not None
        await until(lambda: win.model.row_of(account.id) is not None
                    and _status(win, account.id) is ServerStatus.RUNNING)
        win.select(account.id)
        await win._show_selected()
        assert f"Local port <b>{port}</b>" in win.panel.tunnel.text()
        win.panel.copy_url.click()
        await until(lambda: QApplication.clipboard().text() == f"https://localhost:{port}")
        assert await win.perform(account.id, "tunnel")
        assert win.controller.tunnel_port(account.id) == port
        assert sandboxed.repository.require_account(account.id).keep_tunnel

        # a second account is offered another port, and the Review says which
        await win._open_wizard()
        wizard = win.wizard
        wizard.login.username.setText("paperjane")
        wizard.login.password.setText("p@per'pa$$")
        wizard.next()
        await until(wizard.server.isComplete)
        # what the image is, and its warning, shown while choosing (before: after Create)
        await until(lambda: "ubuntu-24-04-x64" in wizard.server.image_note.text())
        assert "is not in this DigitalOcean account" in wizard.server.image_note.text()
        offered = wizard.server.port.value()
        assert offered != port
        wizard.server.port.setValue(port)  # the first account's: refused on Next
        wizard.next()
        await until(lambda: "already account" in wizard.server.error.text())
        assert wizard.currentId() == PAGE_SERVER
        wizard.server.port.setValue(offered)
        wizard.next()
        await until(lambda: wizard.currentId() == PAGE_REVIEW)
        summary = wizard.review.summary.text()
        assert f"https://localhost:{offered}" in summary and "localhost:5000<" not in summary
        assert "already connected" in wizard.review.warnings.text()  # the same login twice
        assert "paperjane-ib-paper-2" in summary  # the name it will really get
        wizard.hide()

        # the app quits with the tunnel open; the next start opens it again by itself
        await win.controller.close_tunnel(account.id, forget=False)
        again = Controller(sandboxed)
        try:
            assert await again.restore_tunnels() == [account.id]
            await until(lambda: again.tunnel_port(account.id) == port, timeout=30)
            async with httpx.AsyncClient(verify=False, timeout=5) as client:
                answer = await client.post(f"https://localhost:{port}/v1/api/iserver/auth/status")
            assert answer.json()["authenticated"] is True
        finally:
            await again.close_tunnel(account.id)  # the trader closes it: not reopened
        assert not sandboxed.repository.require_account(account.id).keep_tunnel
        assert await Controller(sandboxed).restore_tunnels() == []

    run_scenario(loop, scenario(), win.controller)


def test_a_question_open_during_a_monitor_cycle_drops_no_status_update(
        window: MainWindow, loop: qasync.QEventLoop, sandboxed: Runtime,
        caplog: pytest.LogCaptureFixture) -> None:
    """Issue 14's walk-through: `Cannot enter into task … _on_cycle_finished` whenever a
    dialog was open during a monitor cycle — the confirmation ran inside the action's task,
    and its nested event loop kept every other task (the cycle's updates) from running.
    The boxes here are real (not answered by the test): one is closed by a timer."""
    from datetime import UTC, datetime

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from ibdesk.store.repository import StatusUpdate

    win = window

    seen: list[object] = []
    answered: list[bool] = []

    def close_the_question() -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            box.button(QMessageBox.StandardButton.No).click()
        answered.append(True)

    async def scenario() -> None:
        await win.start()
        account = await win.controller.connect_account(request("paper"), lambda _: None)
        await until(lambda: win.model.row_of(account.id) is not None
                    and _status(win, account.id) is ServerStatus.RUNNING)
        update = StatusUpdate(account.id, ServerStatus.ERROR, "a cycle's news",
                              datetime.now(UTC))
        # plain timer callbacks, not this task (it could not step while a box blocks one)
        QTimer.singleShot(0, lambda: win.panel.action_requested.emit(account.id, "stop"))
        QTimer.singleShot(500, lambda: seen.append(QApplication.activeModalWidget()))
        QTimer.singleShot(600, lambda: win.controller.cycle_finished.emit([update]))
        shown: list[ServerStatus] = []  # every status the row showed (the monitor's own
        win.model.dataChanged.connect(  # cycles go on meanwhile and set it back)
            lambda *_: shown.append(_status(win, account.id)))
        QTimer.singleShot(2000, close_the_question)  # the person answers No, later
        await until(lambda: answered, timeout=10)
        assert isinstance(seen[0], QMessageBox)  # the question was open…
        assert ServerStatus.ERROR in shown  # …and the cycle's update was shown meanwhile
        await until(lambda: QApplication.activeModalWidget() is None, timeout=5)
        await asyncio.sleep(0.2)  # time a stop would have taken to show (a negative)
        assert sandboxed.repository.require_account(account.id).do_server_status \
            is not ServerStatus.STOPPED  # No was answered: nothing was stopped

    with caplog.at_level("ERROR"):
        run_scenario(loop, scenario(), win.controller)
    assert "Cannot enter into task" not in caplog.text


@pytest.fixture
def quiet_window(loop: qasync.QEventLoop, sandboxed: Runtime, qtbot: QtBot):  # type: ignore[no-untyped-def]
    """A window whose monitor checks once at start, then only when asked."""
    controller = Controller(sandboxed, MonitorConfig(fast_interval=60, slow_interval=60,
                                                     error_interval=60))
    win = MainWindow(controller)
    win.show()
    yield win
    win._ages.stop()
    loop.run_until_complete(controller.close())
    win.hide()
    win.deleteLater()


def test_refresh_checks_every_row_and_the_bill_is_in_the_status_bar(
        quiet_window: MainWindow, loop: qasync.QEventLoop, sandboxed: Runtime) -> None:
    """Issue 14's walk-through: Refresh updated only the selected row; the total monthly
    cost was nowhere."""
    win = quiet_window

    async def scenario() -> None:
        from tests.helpers.e2e import provisioner

        first = await provisioner(sandboxed).connect(request("paper"))
        second = await provisioner(sandboxed).connect(request("demo"))
        cycles: list[list[Any]] = []
        win.controller.cycle_finished.connect(cycles.append)
        await win.start()

        def first_look_shown() -> bool:  # the start's own cycle, applied to both rows
            seen = {u.account_id: u.at for cycle in cycles for u in cycle}
            return win.model.rowCount() == 2 and all(
                seen.get(a.id) == a.do_last_status_check for a in win.model.accounts())

        await until(first_look_shown)
        win.select(first.id)
        before = {a.id: a.do_last_status_check for a in win.model.accounts()}
        win.refresh_action.trigger()
        await until(lambda: all(a.do_last_status_check != before[a.id]
                                for a in win.model.accounts()), timeout=20)
        prices = [a.price_monthly or 0 for a in sandboxed.repository.list_accounts()]
        assert win.cost.isVisible() or not win.isVisible()
        assert win.cost.text().startswith(
            f"2 servers · ${sum(prices):,.2f}/month under the schedules · $")
        assert win.cost.text().endswith(" so far this month")  # from the droplets' lives
        assert second.id in {a.id for a in win.model.accounts()}

    run_scenario(loop, scenario(), win.controller)


def test_the_tray_the_row_menu_and_resume_reach_each_account(
        window: MainWindow, loop: qasync.QEventLoop, sandboxed: Runtime,
        answers: dict[str, list[str]]) -> None:
    """Issue 14: the tray's menu had only Show and Quit; rows had no right-click menu; an
    unfinished setup had no Resume button."""
    from PySide6.QtWidgets import QApplication

    from ibdesk.domain.models import Account
    from ibdesk.ui.main_window import MAX_COLUMN_WIDTH
    from tests.helpers.e2e import provisioner

    win = window
    win.tray = Tray(QIcon(), win)

    async def scenario() -> None:
        await win.start()
        account = await win.controller.connect_account(request("paper"), lambda _: None)
        await until(lambda: win.model.row_of(account.id) is not None
                    and _status(win, account.id) is ServerStatus.RUNNING)
        assert win.tray is not None
        menu = win.tray.account_menu(account.id)
        assert menu is not None and "paperjane (paper) — Running" in menu.title()
        open_tunnel, copy = menu.actions()
        assert open_tunnel.text() == f"Open tunnel on localhost:{account.local_port}"
        open_tunnel.trigger()
        await until(lambda: win.controller.tunnel_port(account.id) == account.local_port)
        menu = win.tray.account_menu(account.id)
        assert menu is not None and "tunnel open" in menu.title()
        assert menu.actions()[0].text().startswith("Close tunnel")
        menu.actions()[1].trigger()
        await until(lambda: QApplication.clipboard().text()
                    == f"https://localhost:{account.local_port}")

        texts = {a.text(): a.isEnabled() for a in win.row_menu(account).actions()}
        assert texts["Close &tunnel"] and texts["St&op"] and not texts["Sta&rt"]
        assert texts[f"Cop&y https://localhost:{account.local_port}"]

        # an unfinished setup: Resume in the panel and the menu, and it finishes
        unfinished = await provisioner(sandboxed).connect(request("demo"), wait=False)
        sandboxed.repository.add_account(Account(
            id="ib-paper-0f0f0f0f", username="a-very-long-ibkr-username-" * 2,
            environment="paper"))
        await win.reload()
        assert win.table.columnWidth(0) <= MAX_COLUMN_WIDTH  # the long name is cut, "…"
        win.select(unfinished.id)
        await win._show_selected()
        resume = win.panel.buttons["resume"]
        assert resume.isVisibleTo(win.panel) and resume.isEnabled()
        assert "Res&ume setup" in {a.text() for a in win.row_menu(
            win.model.account_at(win.model.row_of(unfinished.id) or 0)).actions()}
        assert await win.perform(unfinished.id, "resume"), answers["warning"]
        await until(lambda: _status(win, unfinished.id) is ServerStatus.RUNNING, timeout=30)
        await win._apply()
        assert not win.panel.buttons["resume"].isVisibleTo(win.panel)

    run_scenario(loop, scenario(), win.controller)


def test_the_window_opens_again_where_it_was(window: MainWindow, loop: qasync.QEventLoop,
                                            sandboxed: Runtime) -> None:
    """Issue 14's walk-through: on reopen the window jumped to the screen's top-left with
    its title bar off screen; its size and split were forgotten."""
    win = window
    win.resize(700, 480)  # inside the offscreen screen (800 × 600): Qt keeps a restored
    win.move(40, 30)      # window on a screen, as it should
    win.splitter.setSizes([400, 300])

    async def scenario() -> None:
        await win.start()
        geometry = win.geometry()
        sizes = win.splitter.sizes()
        win.close()  # no tray offscreen: this quits, saving the snapshot
        await until(lambda: win._shut_down, timeout=30)
        saved = snapshot.read_any(sandboxed.settings.home)
        assert saved is not None and snapshot.saved_bytes(saved, "geometry")
        again = MainWindow(Controller(sandboxed))
        again.restore_state(saved)
        assert again.geometry().size() == geometry.size()
        assert again.geometry().topLeft() == geometry.topLeft()
        again.show()
        assert again.splitter.sizes() == sizes
        again.hide()
        again.move(90, 100)  # as a window manager might place a window shown again
        again._hidden_geometry = win.saveGeometry()
        again.show_again()
        assert again.geometry().topLeft() == geometry.topLeft()
        again.hide()
        again._ages.stop()

    run_scenario(loop, scenario())


def test_a_refused_password_is_marked_and_given_again_in_the_wizard(
        window: MainWindow, loop: qasync.QEventLoop, sandboxed: Runtime,
        answers: dict[str, list[str]]) -> None:
    """Issue 14's walk-through: after a refused login the wizard's last step showed no
    failure mark and said "enter the password again" with no field to enter it."""
    win = window

    async def scenario() -> None:
        wizard = await _wizard_to_progress(win, password="a typo")
        progress = wizard.progress
        await until(lambda: progress.error.text(), timeout=60)
        assert "refused" in progress.error.text()
        marked = [progress.steps.item(i).text() for i in range(progress.steps.count())
                  if progress.steps.item(i).text().startswith("✗")]
        assert len(marked) == 1  # the step that failed, marked
        assert progress.retry.isVisibleTo(wizard)  # and the field to give it again
        progress.retry_password.setText("p@per'pa$$")
        progress.retry_button.click()
        await until(lambda: progress.done or (progress.error.text()
                                              and not progress.retry.isVisibleTo(wizard)
                                              and "refused" not in progress.error.text()),
                    timeout=60)
        assert progress.done, progress.error.text()
        account_id = progress.account_id
        assert account_id is not None
        assert sandboxed.repository.require_account(account_id).do_server_status \
            is ServerStatus.RUNNING
        wizard.hide()

    run_scenario(loop, scenario(), win.controller)


def test_ibeams_log_is_in_the_window(window: MainWindow, loop: qasync.QEventLoop,
                                     sandboxed: Runtime) -> None:
    """Issue 14: the CLI had `ibdesk logs`; the window had no way to read IBeam's log."""
    win = window

    async def scenario() -> None:
        await win.start()
        account = await win.controller.connect_account(request("paper"), lambda _: None)
        await until(lambda: win.model.row_of(account.id) is not None)
        win.select(account.id)
        await win._show_selected()
        button = win.panel.buttons["logs"]
        assert button.isEnabled() and "IBeam's output" in button.toolTip()
        button.click()
        await until(lambda: account.id in win.log_dialogs)
        dialog = win.log_dialogs[account.id]
        await until(lambda: "last" in dialog.note.text(), timeout=20)
        text = dialog.text.toPlainText()
        assert "authenticated" in text.lower() or "gateway" in text.lower(), text[-500:]
        assert "p@per" not in text  # the password never shows
        dialog.follow.setChecked(True)
        assert dialog._timer.isActive()
        dialog.close()
        assert not dialog._timer.isActive()

    run_scenario(loop, scenario(), win.controller)


def test_long_texts_never_grow_the_window_or_clip_it(window: MainWindow, qtbot: QtBot) -> None:
    """Issue 14's walk-through: the window grew by itself (buttons moved under the
    pointer) and had a minimum height of about 708 px that clipped rows."""
    from PySide6.QtWidgets import QApplication

    from ibdesk.domain.models import Account, StatusDetail

    win = window
    win.resize(760, 520)
    QApplication.processEvents()
    size = win.size()
    long = "IBKR refused the username or password. " * 12
    account = Account(id="ib-live-0a0b0c0d", username="u" * 64, environment="live",
                      do_droplet_id=1, do_server_status=ServerStatus.ERROR, local_port=5000)
    win.panel.show_account(account, StatusDetail(reason=long, fix=long, warning=long),
                           tunnel_waiting=5000)
    QApplication.processEvents()
    assert win.size() == size
    assert win.minimumSizeHint().height() < 400 and win.minimumSizeHint().width() < 760


def test_the_login_page_refuses_a_bad_totp_secret(window: MainWindow,
                                                  loop: qasync.QEventLoop) -> None:
    """Issue 14's walk-through: a bad TOTP secret was accepted (and failed on the server,
    at IBKR's prompt, costing refused codes)."""
    from ibdesk.domain.enums import Environment, TwoFactorHandler

    win = window
    loop.run_until_complete(win._open_wizard())
    login = win.wizard.login
    login.username.setText("livejoe")
    login.password.setText("l!ve\"pass")
    login.environment.setCurrentIndex(login.environment.findData(Environment.LIVE))
    login.two_fa.setCurrentIndex(login.two_fa.findData(TwoFactorHandler.PYOTP))
    for bad, said in (("hello world 1!", "cannot work"), ("JBSWY3DP", "at least 16")):
        login.totp.setText(bad)
        assert not login.validatePage()
        assert said in login.error.text() and login.error.isVisibleTo(login)
    login.totp.setText("jbsw y3dp ehpk 3pxp")  # as IBKR shows it: accepted, normalised
    assert login.validatePage()
    assert login.request().totp_secret == "jbsw y3dp ehpk 3pxp"
    win.wizard.hide()
