"""Never lock a trader out: no path starts IBeam again after IBKR refused the password
(issue 13, point 1), on the sandbox.

The scenario is the one reproduced as an adversarial user: the password changed on
IBKR's site, IBeam's session ends, IBeam tries the stored password, IBKR refuses it, and
IBeam shuts itself down after IBEAM_MAX_FAILED_AUTH=2 — with no monitor running (someone
who only uses the CLI). From there, every way of starting IBeam must leave IBKR's count
of refused logins where it is, until a new password is given.
"""

from __future__ import annotations

import pytest

from ibdesk.domain.diagnosis import FixAction
from ibdesk.domain.enums import ServerStatus
from ibdesk.domain.errors import LoginRefused
from ibdesk.domain.models import Account
from ibdesk.sandbox import IBKRUser, Sandbox
from ibdesk.services import Runtime
from ibdesk.services.control.credentials import change_password
from ibdesk.services.control.lifecycle import Lifecycle
from ibdesk.services.support.doctor import Doctor
from ibdesk.services.watch.status import StatusService
from tests.helpers.e2e import provisioner, request
from tests.helpers.sandbox import advance

NEW = "changed-at-ibkr"


async def _refused(sandbox: Sandbox, rt: Runtime) -> Account:
    """A running account whose password was then changed at IBKR, until IBeam gave up."""
    account = await provisioner(rt).connect(request("paper"))
    sandbox.users._users["paperjane"] = IBKRUser("paperjane", NEW)
    host = sandbox.host(account.do_droplet_id or 0)
    host.set_gateway_faults(session_reset=True)
    for _ in range(4):  # the next login, then a maintenance run (1 s each here)
        await advance(sandbox, 1.2)
    assert sandbox.ibkr.passwords_refused == 2 and host.ibeam.state == "hung"
    return rt.repository.require_account(account.id)


async def test_doctor_never_offers_or_applies_a_restart(sandbox: Sandbox, rt: Runtime) -> None:
    account = await _refused(sandbox, rt)
    assert account.login_refused is None  # nobody's monitor saw it
    results = [r async for r in Doctor(rt).run(account.id)]
    assert FixAction.RESTART_IBEAM not in {r.action for r in results}
    assert FixAction.NEW_PASSWORD in {r.action for r in results}
    for _ in range(3):  # `ibdesk doctor --fix`, the Diagnose buttons
        with pytest.raises(LoginRefused, match="will not start IBeam again"):
            await Doctor(rt).apply(FixAction.RESTART_IBEAM, account.id)
        await advance(sandbox, 1.2)
    assert sandbox.ibkr.passwords_refused == 2  # was 8 after three fixes


async def test_restart_stop_and_start_keep_ibeam_down(sandbox: Sandbox, rt: Runtime) -> None:
    account = await _refused(sandbox, rt)
    host = sandbox.host(account.do_droplet_id or 0)
    await Lifecycle(rt, poll=0.05).restart(account.id)  # a reboot, which starts the unit…
    for _ in range(3):
        await advance(sandbox, 1.2)
    assert not host.systemd.enabled("ibeam")  # …so it was disabled first
    assert host.ibeam is None or host.ibeam.state != "running"
    assert rt.repository.require_account(account.id).login_refused == \
        "password_refused"
    await Lifecycle(rt, poll=0.05).stop(account.id)
    await advance(sandbox, 1)
    await Lifecycle(rt, poll=0.05).start(account.id)
    for _ in range(3):
        await advance(sandbox, 1.2)
    assert sandbox.ibkr.passwords_refused == 2
    with pytest.raises(LoginRefused):
        await Doctor(rt).apply(FixAction.RESTART_IBEAM, account.id)


async def test_a_status_check_guards_for_those_who_use_the_cli(sandbox: Sandbox,
                                                             rt: Runtime) -> None:
    account = await _refused(sandbox, rt)
    report = await StatusService(rt).check(account.id)  # `ibdesk status ID`
    assert report.account.do_server_status is ServerStatus.ERROR
    assert "refused the username or password" in report.decision.detail.reason
    host = sandbox.host(account.do_droplet_id or 0)
    assert report.account.login_refused == "password_refused"
    assert not host.systemd.enabled("ibeam")  # the guard disabled the unit
    assert host.ibeam.state == "exited"  # and stopped IBeam


async def test_a_new_password_is_the_only_way_on(sandbox: Sandbox, rt: Runtime) -> None:
    account = await _refused(sandbox, rt)
    await StatusService(rt).check(account.id)  # the guard fires, the unit is disabled
    await change_password(rt, account.id, NEW)
    host = sandbox.host(account.do_droplet_id or 0)
    assert host.systemd.enabled("ibeam")
    await advance(sandbox, 1)
    report = await StatusService(rt).check(account.id)
    assert report.account.do_server_status is ServerStatus.RUNNING
    assert report.account.login_refused is None
    assert sandbox.ibkr.passwords_refused == 2
