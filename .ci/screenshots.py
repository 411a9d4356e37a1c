"""Render the window, each wizard page and the status panel on the sandbox into
docs/screenshots/*.png. Run under a virtual screen:

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python .ci/screenshots.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import qasync

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
sys.path.insert(0, str(ROOT))


async def until(check, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise TimeoutError("the window did not get there")
        await asyncio.sleep(0.05)


async def shoot(window, name: str) -> None:  # type: ignore[no-untyped-def]
    await asyncio.sleep(0.3)  # let layouts and paints settle before the grab
    window.grab().save(str(OUT / f"{name}.png"))
    print("wrote", name)


async def scenario(rt, runner) -> None:  # type: ignore[no-untyped-def]
    from ibdesk.domain.enums import Environment, TwoFactorHandler
    from ibdesk.services.connect.provisioner import ConnectRequest
    from ibdesk.services.watch.monitor import MonitorConfig
    from ibdesk.ui.connect_wizard import PAGE_REVIEW
    from ibdesk.ui.controller import Controller
    from ibdesk.ui.main_window import MainWindow

    controller = Controller(rt, MonitorConfig(fast_interval=0.5, slow_interval=1.0))
    window = MainWindow(controller)
    window.resize(1280, 760)
    window.show()
    await window.start()
    await shoot(window, "01-first-run")

    await window._open_wizard()
    wizard = window.wizard
    wizard.resize(720, 540)
    from ibdesk.domain.enums import Environment as Env

    wizard.login.username.setText("livejoe")
    wizard.login.password.setText("secret")
    wizard.login.environment.setCurrentIndex(wizard.login.environment.findData(Env.LIVE))
    wizard.next()  # refused: live needs a 2FA handler
    await shoot(wizard, "02b-wizard-live-error")
    wizard.login.environment.setCurrentIndex(wizard.login.environment.findData(Env.PAPER))
    wizard.login.username.setText("paperjane")
    wizard.login.password.setText("p@per'pa$$")
    await shoot(wizard, "02-wizard-login")
    wizard.next()
    await until(wizard.server.isComplete)
    await until(lambda: "Uses" in wizard.server.image_note.text())
    await shoot(wizard, "03-wizard-server")
    wizard.next()
    await until(lambda: wizard.currentId() == PAGE_REVIEW)
    await shoot(wizard, "04-wizard-review")
    wizard.next()
    await until(lambda: wizard.progress.items[list(wizard.progress.items)[6]].text()
                .startswith(("◔", "✓")))
    await shoot(wizard, "05-wizard-progress")
    await until(lambda: wizard.progress.done)
    await shoot(wizard, "06-wizard-done")
    wizard.accept()

    noop = lambda event: None  # noqa: E731
    await controller.connect_account(ConnectRequest(username="demo4711", password="demo pass",
                                            environment=Environment.DEMO), noop)
    live = await controller.connect_account(ConnectRequest(
        username="livejoe", password="l!ve\"pass", environment=Environment.LIVE,
        two_fa_handler=TwoFactorHandler.PYOTP, totp_secret="JBSWY3DPEHPK3PXP"), noop)
    sandbox = runner.sandbox
    sandbox.host(live.do_droplet_id).ibeam.set_faults(competing=True)
    window.wizard = None
    await window._open_wizard()  # a refused password, as the wizard shows it
    wizard = window.wizard
    wizard.resize(720, 540)
    wizard.login.username.setText("paperjane")
    wizard.login.password.setText("typo")
    wizard.next()
    await until(wizard.server.isComplete)
    wizard.next()
    await until(lambda: wizard.currentId() == PAGE_REVIEW)
    wizard.next()
    await until(lambda: wizard.progress.error.text())
    await shoot(wizard, "05b-wizard-refused")
    wizard.reject()
    stopped = (await controller.accounts())[1][0]
    await controller.run_action(stopped.id, "stop")
    for _ in range(3):
        await controller.monitor.cycle(force=True)
        await asyncio.sleep(0.3)
    await window.reload()
    window.select(live.id)
    await controller.open_tunnel(live.id)
    await window._show_selected()
    await shoot(window, "07-main-window")
    await shoot(window.panel, "08-status-panel")
    menu = window.row_menu(window.model.account_at(window.model.row_of(live.id)))
    menu.popup(window.mapToGlobal(window.rect().center()))
    await asyncio.sleep(0.4)
    await shoot(menu, "14-row-menu")
    menu.close()
    rows = await controller.accounts()
    failed = next(a for a, _ in rows if a.do_server_status.value == "error")
    window.select(failed.id)
    await window._show_selected()
    await shoot(window, "09-error-explained")
    dialog = window.open_diagnose(failed.id, f"{failed.username} ({failed.environment.value})")
    dialog.resize(1180, 600)
    await until(lambda: dialog._task is not None and dialog._task.done())
    await shoot(dialog, "10-diagnose")
    dialog.close()
    settings = window.open_settings()
    await shoot(settings, "13-settings")
    settings.reject()
    view = await controller.schedule_view(live.id)
    schedule = window.open_schedule(view)
    schedule.trading.setChecked(True)
    schedule.rebuild.setChecked(True)
    await shoot(schedule, "15-schedule")
    schedule.reject()
    report = window.open_report()
    report.period.setCurrentIndex(0)  # the last hour: what this run has
    await until(lambda: report.table.rowCount() > 0)
    await asyncio.sleep(0.5)
    await shoot(report, "16-report")
    report.reject()
    # the same window in the OS's dark theme
    # Xvfb has no platform theme to follow, so stand in for a dark OS theme: Fusion with
    # a dark palette, as Qt gives on a desktop set to dark.
    from PySide6.QtGui import QColor, QPalette
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    previous_style, previous_palette = app.style().name(), app.palette()
    app.setStyle("Fusion")
    dark = QPalette()
    for role, colour in ((QPalette.ColorRole.Window, "#2b2b2b"),
                         (QPalette.ColorRole.WindowText, "#e6e6e6"),
                         (QPalette.ColorRole.Base, "#1f1f1f"),
                         (QPalette.ColorRole.AlternateBase, "#2b2b2b"),
                         (QPalette.ColorRole.Text, "#e6e6e6"),
                         (QPalette.ColorRole.Button, "#3a3a3a"),
                         (QPalette.ColorRole.ButtonText, "#e6e6e6"),
                         (QPalette.ColorRole.Highlight, "#2b6cb0"),
                         (QPalette.ColorRole.HighlightedText, "#ffffff"),
                         (QPalette.ColorRole.PlaceholderText, "#9a9a9a"),
                         (QPalette.ColorRole.ToolTipBase, "#3a3a3a"),
                         (QPalette.ColorRole.ToolTipText, "#e6e6e6")):
        dark.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text,
                 QPalette.ColorRole.ButtonText):
        dark.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7a7a7a"))
    app.setPalette(dark)
    window.panel.apply_theme()
    await asyncio.sleep(0.5)
    await shoot(window, "11-dark-theme")
    dialog = window.open_diagnose(failed.id, f"{failed.username} ({failed.environment.value})")
    await until(lambda: dialog._task is not None and dialog._task.done())
    await shoot(dialog, "12-diagnose-dark")
    dialog.close()
    app.setPalette(previous_palette)
    app.setStyle(previous_style)
    window._ages.stop()
    await controller.close()


def main() -> int:
    from ibdesk.app import make_application
    from ibdesk.sandbox.runner import SandboxThread
    from ibdesk.secrets import DO_TOKEN, MemoryKeyring, SecretStore
    from ibdesk.services import open_runtime
    from ibdesk.services.runtime import SandboxInfo
    from tests.helpers.e2e import options

    OUT.mkdir(parents=True, exist_ok=True)
    app = make_application()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with tempfile.TemporaryDirectory() as home, SandboxThread(options()) as sandbox:
        runner = type("Runner", (), {"sandbox": sandbox})()
        rt = open_runtime(home, do_api_url=sandbox.api_url,
                          sandbox_ssh_map_url=sandbox.ssh_map_url,
                          public_ip_url=sandbox.public_ip_url)
        rt.secrets = SecretStore("ibdesk-screens", backend=MemoryKeyring())
        rt.secrets.set(DO_TOKEN, sandbox.token)
        rt.sandbox = SandboxInfo(sandbox.api_url, "sandboxdemo", "sandbox-demo-pass")
        with loop:
            loop.run_until_complete(scenario(rt, runner))
    return 0


if __name__ == "__main__":
    sys.exit(main())
