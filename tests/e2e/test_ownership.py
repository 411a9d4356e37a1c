"""One live owner per operation, one installation's servers, and creates whose answer was
lost (issue 13, points 2-4), in process on the sandbox. The same races between real
processes killed with SIGKILL are in test_races.py."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import pytest

from ibdesk.domain.enums import OperationState, ServerStatus
from ibdesk.domain.errors import CloudUnavailable, InvalidInput, OperationBusy, OperationLost
from ibdesk.domain.models import Account, Environment, OperationOwner, new_account_id
from ibdesk.domain.naming import installation_of, installation_tag, request_tag
from ibdesk.sandbox import Sandbox
from ibdesk.secrets import ibkr_password
from ibdesk.services import Runtime, ownership
from ibdesk.services.connect.provisioner import Progress, Provisioner, Step
from ibdesk.services.control.lifecycle import Lifecycle
from ibdesk.services.installation import installation_id
from ibdesk.services.watch.reconciler import OrphanKind, Reconciler
from tests.helpers.e2e import FAST, provisioner, request, runtime_for, set_owner


def _interrupted_connect(rt: Runtime, step: str = "secrets") -> Account:
    """What `connect` leaves when killed after keeping the password: the account, its
    pending operation (owner gone), the password in the keyring, no droplet yet."""
    account = Account(id=new_account_id(Environment.PAPER), username="paperjane",
                      environment=Environment.PAPER, do_region="nyc1", do_size="s-1vcpu-2gb",
                      do_image="docker-20-04")
    tag = request_tag(os.urandom(8).hex())
    rt.repository.add_account(account, operation=(tag, "connect", {
        "region": "nyc1", "size": "s-1vcpu-2gb", "image": "docker-20-04",
        "seed_image": False}))
    rt.repository.update_operation(tag, step=step)
    set_owner(rt, tag, pid=999999999)  # its process is gone
    rt.secrets.set(ibkr_password(account.id), "p@per'pa$$")
    return account


def _tagged(sandbox: Sandbox, tag: str) -> list[int]:
    return [d.id for d in sandbox.world.droplets.values() if tag in d.tags]


# --------------------------------------------------------------------------- point 2
async def test_two_resumes_at_once_create_one_droplet(sandbox: Sandbox, rt: Runtime) -> None:
    account = _interrupted_connect(rt)
    results = await asyncio.gather(provisioner(rt).resume(account.id),
                                   provisioner(rt).resume(account.id), return_exceptions=True)
    done = [r for r in results if isinstance(r, Account)]
    busy = [r for r in results if isinstance(r, OperationBusy)]
    assert len(done) == 1 and len(busy) == 1, results
    assert "is connecting right now in this ibdesk" in busy[0].user_message
    assert done[0].do_server_status is ServerStatus.RUNNING
    assert list(sandbox.world.droplets) == [done[0].do_droplet_id]
    (op,) = rt.repository.operations(states=list(OperationState), account_id=account.id)
    assert op.state is OperationState.DONE and op.owner is None  # released at the end


async def test_a_live_owner_is_not_taken_over_and_a_dead_one_is(sandbox: Sandbox,
                                                                 rt: Runtime) -> None:
    account = _interrupted_connect(rt)
    (op,) = rt.repository.operations()
    set_owner(rt, op.request_tag, pid=os.getppid())  # a live process on this computer
    with pytest.raises(OperationBusy, match="in another ibdesk"):
        await provisioner(rt).resume(account.id)
    assert (await Reconciler(rt, timing=FAST).run()).skipped == [account.id]
    with pytest.raises(OperationBusy):
        await Lifecycle(rt).delete(account.id)
    assert sandbox.world.droplets == {} and rt.repository.get_account(account.id)
    set_owner(rt, op.request_tag, pid=os.getppid(), run="x", host="another-computer")
    assert (await provisioner(rt).resume(account.id)).do_server_status is ServerStatus.RUNNING


async def test_a_reused_pid_does_not_pass_for_the_dead_owner(sandbox: Sandbox,
                                                             rt: Runtime) -> None:
    account = _interrupted_connect(rt)
    (op,) = rt.repository.operations()
    rt.repository.claim_operation(op.request_tag, OperationOwner(
        run="old", pid=os.getppid(), host=socket.gethostname(), process_started=1.0),
        alive=lambda _: False)  # the pid is alive, but it started at another time
    assert (await provisioner(rt).resume(account.id)).do_server_status is ServerStatus.RUNNING


async def test_connect_stops_before_creating_when_its_operation_was_taken(
        sandbox: Sandbox, rt: Runtime) -> None:
    taken: list[str] = []

    def on_progress(event: Progress) -> None:
        if event.step is Step.FIREWALL and event.state == "done" and not taken:
            (op,) = rt.repository.operations()
            set_owner(rt, op.request_tag, pid=999999998, run="the-taker")
            taken.append(op.request_tag)

    with pytest.raises(OperationLost, match="another ibdesk run took it over"):
        await Provisioner(rt, on_progress=on_progress, timing=FAST).connect(request("paper"))
    assert sandbox.world.droplets == {}  # nothing created after the takeover
    op = rt.repository.get_operation(taken[0])
    assert op is not None and op.state is OperationState.PENDING  # the taker's, untouched
    assert op.owner is not None and op.owner.run == "the-taker"


async def test_delete_during_a_connect_is_refused_then_works(sandbox: Sandbox,
                                                            rt: Runtime) -> None:
    started = asyncio.Event()

    def on_progress(event: Progress) -> None:
        if event.step is Step.SSH_KEY and event.state == "started":
            started.set()

    prov = Provisioner(rt, on_progress=on_progress, timing=FAST)
    sandbox.world.faults.latency_ms = 300  # the connect takes a while
    task = asyncio.ensure_future(prov.connect(request("paper")))
    await started.wait()
    with pytest.raises(OperationBusy, match="is connecting right now in this ibdesk"):
        await Lifecycle(rt).delete(prov.account_id or "")
    sandbox.world.faults.latency_ms = 0
    account = await task
    assert list(sandbox.world.droplets) == [account.do_droplet_id]
    assert await Lifecycle(rt).delete(account.id)
    assert sandbox.world.droplets == {} and rt.repository.list_accounts() == []


async def test_delete_after_a_dead_connect_cancels_it_for_good(sandbox: Sandbox,
                                                              rt: Runtime) -> None:
    account = _interrupted_connect(rt, step="firewall")
    assert await Lifecycle(rt).delete(account.id)
    ops = rt.repository.operations(states=list(OperationState), account_id=account.id)
    assert {o.kind: o.state for o in ops} == {"connect": OperationState.ROLLED_BACK,
                                              "delete": OperationState.DONE}
    rt.repository.add_account(account)  # even with the row back, the connect is over
    with pytest.raises(InvalidInput, match="no unfinished connect"):
        await provisioner(rt).resume(account.id)
    (connect,) = [o for o in ops if o.kind == "connect"]
    with pytest.raises(OperationLost, match="already ended"):  # and no claim revives it
        rt.repository.claim_operation(connect.request_tag, ownership.new_owner(),
                                      alive=ownership.is_alive)
    assert sandbox.world.droplets == {}


# --------------------------------------------------------------------------- point 3
async def test_a_second_installation_never_deletes_the_firsts_servers(
        sandbox: Sandbox, rt: Runtime, tmp_path: Path) -> None:
    desktop = await provisioner(rt).connect(request("paper"))
    laptop = runtime_for(sandbox, tmp_path / "laptop")
    try:
        here = installation_id(rt.settings.home)
        assert installation_id(laptop.settings.home) != here
        droplet = sandbox.world.droplets[desktop.do_droplet_id or 0]
        assert installation_of(droplet.tags) == here
        report = await Reconciler(laptop).run()
        assert [(o.droplet_id, o.kind) for o in report.orphans] == [
            (desktop.do_droplet_id, OrphanKind.OTHER_INSTALLATION)]
        assert report.orphans[0].describe() == "another ibdesk installation's server"
        assert await Reconciler(laptop).delete_orphans() == []
        assert desktop.do_droplet_id in sandbox.world.droplets
        assert (await Reconciler(rt).run()).orphans == []  # the desktop sees its own
        # named one by one, it goes: the person said exactly this server
        assert await Reconciler(laptop).delete_orphans([desktop.do_droplet_id or 0]) == [
            desktop.do_droplet_id]
    finally:
        laptop.close()


def test_installation_id_is_made_once_and_kept(tmp_path: Path) -> None:
    first = installation_id(tmp_path)
    assert first == installation_id(tmp_path) and len(first) == 16
    assert (tmp_path / "installation-id").stat().st_mode & 0o777 == 0o600
    assert installation_tag(first) == f"ibdesk-inst:{first}"
    (tmp_path / "installation-id").write_text("damaged\n")
    assert installation_id(tmp_path) != first  # replaced, never used half-read


# --------------------------------------------------------------------------- point 4
async def test_a_create_whose_answer_is_lost_carries_on_with_the_droplet_it_made(
        sandbox: Sandbox, rt: Runtime) -> None:
    sandbox.world.faults.lost_answers["POST /v2/droplets"] = 1
    prov = provisioner(rt)
    account = await prov.connect(request("paper"))
    assert account.do_server_status is ServerStatus.RUNNING
    assert list(sandbox.world.droplets) == [account.do_droplet_id]
    assert any("answer to the create was lost" in w for w in prov.warnings)


async def test_reconcile_finds_the_droplet_of_a_failed_connect_by_its_request_tag(
        sandbox: Sandbox, rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    async def not_listed_yet(self: Provisioner, do: object, tag: str) -> None:
        return None  # DigitalOcean had not listed it yet when the connect looked

    monkeypatch.setattr(Provisioner, "_made_anyway", not_listed_yet)
    sandbox.world.faults.lost_answers["POST /v2/droplets"] = 1
    prov = provisioner(rt)
    with pytest.raises(CloudUnavailable, match="may or may not have been carried out"):
        await prov.connect(request("paper"))
    account = rt.repository.require_account(prov.account_id or "")
    (made,) = sandbox.world.droplets.values()  # billed, and the account does not know it
    assert account.do_droplet_id is None
    (listed,) = await Reconciler(rt).orphans()
    assert (listed.droplet_id, listed.kind, listed.account_id) == (
        made.id, OrphanKind.UNRECORDED, account.id)
    report = await Reconciler(rt).run()
    assert report.adopted == [account.id] and report.orphans == []
    account = rt.repository.require_account(account.id)
    detail = rt.repository.status_detail(account.id)
    assert account.do_droplet_id == made.id and detail is not None
    assert detail.reason.startswith(f"Found server {made.name}")
    monkeypatch.undo()
    resumed = await provisioner(rt).resume(account.id)
    assert resumed.do_server_status is ServerStatus.RUNNING
    assert list(sandbox.world.droplets) == [made.id]  # the one it made, never a second
    assert _tagged(sandbox, installation_tag(installation_id(rt.settings.home))) == [made.id]
