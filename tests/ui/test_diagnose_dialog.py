"""The Diagnose view on the sandbox: checks arrive live, failures show their fix, the fix
buttons work, and a support bundle is saved from it."""

from __future__ import annotations

import zipfile
from pathlib import Path

import qasync
from pytestqt.qtbot import QtBot

from ibdesk.domain.diagnosis import Check, CheckState, FixAction
from ibdesk.services.runtime import Runtime
from ibdesk.ui.controller import Controller
from ibdesk.ui.diagnose_dialog import DiagnoseDialog
from tests.helpers import run_scenario
from tests.helpers.e2e import request


def test_diagnose_fix_and_bundle(loop: qasync.QEventLoop, sandboxed: Runtime, qtbot: QtBot,
                                 tmp_path: Path) -> None:
    controller = Controller(sandboxed)
    sandbox = sandboxed.runner.sandbox  # type: ignore[attr-defined]

    async def scenario() -> None:
        account = await controller.connect_account(request("paper"), lambda _: None)
        dialog = DiagnoseDialog(controller, account.id, "paperjane (paper)")
        qtbot.addWidget(dialog)
        dialog.show()
        seen: list[int] = []
        dialog.tree.model().rowsInserted.connect(lambda *_: seen.append(1))
        await dialog.run_checks()
        every = len(Check.run_for(account=True))  # one row per result, one per check
        assert len(seen) == dialog.tree.topLevelItemCount() == every == 14
        assert f"All {every} checks passed" in dialog.heading.text()
        assert dialog.fix_buttons.count() == 0

        # the trader's address changed: the firewall check fails and offers the fix
        sandbox.world.config.workstation_ip = "198.51.100.9"
        await dialog.run_checks()
        states = {r.key: r.state for r in dialog.results}
        assert states["firewall"] is CheckState.FAILED and states["ssh"] is CheckState.FAILED
        assert "problems found" in dialog.heading.text()
        row = next(i for i in range(dialog.tree.topLevelItemCount())
                   if dialog.tree.topLevelItem(i).text(1).startswith("Firewall"))
        item = dialog.tree.topLevelItem(row)
        assert item.text(0) == "Failed" and "198.51.100.9" in item.text(2)
        assert "Update the firewall" in item.text(3)
        button = dialog.fix_button(FixAction.UPDATE_FIREWALL)
        assert button is not None and button.text() == "Update firewall"
        await dialog.apply_fix(FixAction.UPDATE_FIREWALL)
        assert "now admits SSH from" in dialog.heading.text()
        assert all(r.state is not CheckState.FAILED for r in dialog.results)

        # IBeam stopped: Restart IBeam is offered and works
        sandboxed.runner.call(  # type: ignore[attr-defined]
            lambda sb: sb.host(account.do_droplet_id).systemd.stop("ibeam"))
        await dialog.run_checks()
        assert dialog.fix_button(FixAction.RESTART_IBEAM) is not None
        await dialog.apply_fix(FixAction.RESTART_IBEAM)
        assert "IBeam restarted" in dialog.heading.text()
        assert {r.key: r.state for r in dialog.results}["container"] is CheckState.OK

        # a password refused: the button hands over to the window's password prompt
        asked: list[str] = []
        dialog.password_requested.connect(asked.append)
        dialog._on_fix(FixAction.NEW_PASSWORD)
        assert asked == [account.id]

        target = tmp_path / "bundle.zip"
        written = await dialog.save_bundle(target)
        assert written == target and zipfile.is_zipfile(target)
        assert "Saved" in dialog.heading.text() and "username is hidden" in dialog.heading.text()
        with zipfile.ZipFile(target) as zf:
            assert "paperjane" not in zf.read("account.json").decode()
        dialog.close()

    run_scenario(loop, scenario(), controller)


def test_after_a_new_password_diagnose_waits_for_the_login(loop: qasync.QEventLoop,
                                                          qtbot: QtBot) -> None:
    """Issue 14's walk-through: after New password, Diagnose checked at once and found the
    old refusal still there. It waits until the login with the new one has ended."""
    import asyncio

    from ibdesk.domain.enums import ServerStatus
    from ibdesk.domain.models import Account

    calls: list[str] = []
    states = iter([ServerStatus.ERROR, ServerStatus.INITIALIZING, ServerStatus.INITIALIZING,
                   ServerStatus.RUNNING])

    class Stub:
        async def account(self, account_id: str) -> tuple[Account, None]:
            calls.append("look")
            status = next(states, ServerStatus.RUNNING)
            return Account(id=account_id, username="u", environment="paper",
                           do_droplet_id=1, do_server_status=status), None

        async def diagnose(self, account_id: str | None, on_result: object) -> list[object]:
            calls.append("diagnose")
            return []

    dialog = DiagnoseDialog(Stub(), "ib-paper-0a0b0c0d", "u (paper)")  # type: ignore[arg-type]
    qtbot.addWidget(dialog)

    async def scenario() -> None:
        dialog.recheck_after_login(poll=0.01)
        await asyncio.sleep(0)
        assert "Waiting for IBeam to log in" in dialog.heading.text()
        assert dialog._task is not None
        await dialog._task

    loop.run_until_complete(scenario())
    assert calls == ["look"] * 4 + ["diagnose"]  # checked once it was running, not before
