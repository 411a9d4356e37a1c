"""Recovering after a crash: every unfinished operation is finished or undone.

Runs at start-up and on `ibdesk reconcile`. For each pending operation whose owner is
gone (a live owner's is left alone; see `ownership`) it claims the operation, finds what
exists by the operation's tags, and carries it to its end or rolls it back, so the
outcome is always an account that reaches `running` or one that is cleanly gone. It
never creates a second droplet for one request: the provisioner looks the droplet up by
its request tag first. A connect that failed after DigitalOcean made its droplet (the
answer to the create was lost) gets that droplet recorded, found by the request tag.

Every droplet of this installation that is not the recorded droplet of its account is an
orphan, listed with its monthly cost and deleted only when the person says so. Droplets
of another installation on the same token (a second computer) are listed as such and
deleted only when named one by one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import StrEnum

from ibdesk.cloud import Droplet
from ibdesk.domain.errors import IbdeskError, NotFound, OperationBusy, OperationLost
from ibdesk.domain.models import (
    Account,
    OperationState,
    PendingOperation,
    ServerStatus,
    StatusDetail,
)
from ibdesk.domain.naming import APP_TAG, account_of, account_tag, installation_of
from ibdesk.secrets import account_secret_names, ibkr_password
from ibdesk.services import ownership
from ibdesk.services.connect.provisioner import Provisioner, Timing
from ibdesk.services.control.lifecycle import Lifecycle
from ibdesk.services.installation import installation_id
from ibdesk.services.remote import in_thread
from ibdesk.services.runtime import Runtime
from ibdesk.services.token import TokenService

log = logging.getLogger(__name__)


class OrphanKind(StrEnum):
    ORPHAN = "orphan"
    """This installation's, and no account records it: deletable with `orphans --delete`."""
    UNRECORDED = "unrecorded"
    """Made by an unfinished connect that did not get to record it: reconcile records it."""
    OTHER_INSTALLATION = "other_installation"
    """Tagged by another ibdesk installation on this token: deleted only when named."""
    UNKNOWN_INSTALLATION = "unknown_installation"
    """Tagged `ibdesk` without an installation (an older ibdesk, or by hand), and no
    account here names it: deleted only when named."""


ORPHAN_KIND_TEXT = {
    OrphanKind.ORPHAN: "no account of this ibdesk",
    OrphanKind.UNRECORDED: "unfinished connect of {account}: `ibdesk reconcile` records it",
    OrphanKind.OTHER_INSTALLATION: "another ibdesk installation's server",
    OrphanKind.UNKNOWN_INSTALLATION: "an ibdesk server of no known installation",
}


@dataclass(frozen=True)
class Orphan:
    droplet_id: int
    name: str
    region: str
    status: str
    price_monthly: float
    kind: OrphanKind = OrphanKind.ORPHAN
    account_id: str | None = None
    installation: str | None = None

    @property
    def deletable_unnamed(self) -> bool:
        """`orphans --delete` without ids removes only these."""
        return self.kind is OrphanKind.ORPHAN

    def describe(self) -> str:
        return ORPHAN_KIND_TEXT[self.kind].format(account=self.account_id)


@dataclass
class ReconcileReport:
    finished: list[str] = field(default_factory=list)
    """Accounts whose connect was carried to the end."""
    rolled_back: list[str] = field(default_factory=list)
    """Accounts removed because their connect could not go on (no password kept yet)."""
    deleted: list[str] = field(default_factory=list)
    """Accounts whose interrupted delete was finished."""
    adopted: list[str] = field(default_factory=list)
    """Accounts whose failed connect had made a droplet it did not know: now recorded."""
    failed: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    """Operations another live ibdesk run is still working on."""
    orphans: list[Orphan] = field(default_factory=list)


class Reconciler:
    def __init__(self, rt: Runtime, timing: Timing | None = None) -> None:
        self._rt = rt
        self._timing = timing

    async def run(self) -> ReconcileReport:
        report = ReconcileReport()
        store = self._rt.store
        for op in await store.operations(states=(OperationState.PENDING,)):
            if op.owner is not None and ownership.is_alive(op.owner):
                report.skipped.append(op.account_id)
                continue
            try:
                if op.kind == "connect":
                    await self._connect(op, report)
                elif op.kind == "delete":
                    await self._delete(op, report)
            except (OperationBusy, OperationLost):
                report.skipped.append(op.account_id)  # another run got there first
            except IbdeskError as exc:
                report.failed[op.account_id] = exc.user_message
                log.warning("reconcile of %s failed: %s", op.account_id, exc.user_message)
        try:
            await self._adopt_lost_creates(report)
        except IbdeskError as exc:
            log.warning("looking for droplets of failed connects failed: %s", exc.user_message)
        report.orphans = await self.orphans()
        return report

    async def _connect(self, op: PendingOperation, report: ReconcileReport) -> None:
        store = self._rt.store
        account = await store.get_account(op.account_id)
        password = await in_thread(self._rt.secrets.get, ibkr_password(op.account_id))
        if account is None or not password:
            # Killed before the password was kept: nothing can carry this on.
            me = ownership.new_owner()
            with ownership.running(me):
                await store.claim_operation(op.request_tag, me,
                                alive=ownership.is_alive, states=(OperationState.PENDING,))
                try:
                    await self._remove(op.account_id, op.request_tag)
                    await store.update_operation(op.request_tag,
                                    state=OperationState.ROLLED_BACK, as_owner=me)
                finally:
                    await store.release_operation(op.request_tag, me)
            report.rolled_back.append(op.account_id)
            return
        await Provisioner(self._rt, timing=self._timing).resume(op.account_id)
        report.finished.append(op.account_id)

    async def _delete(self, op: PendingOperation, report: ReconcileReport) -> None:
        store = self._rt.store
        if await store.get_account(op.account_id) is not None:
            await Lifecycle(self._rt).delete(op.account_id)  # supersedes the dead one's
        else:
            me = ownership.new_owner()
            with ownership.running(me):
                await store.claim_operation(op.request_tag, me,
                                alive=ownership.is_alive, states=(OperationState.PENDING,))
                try:
                    await self._remove(op.account_id, None)
                    await store.update_operation(op.request_tag,
                                    state=OperationState.DONE, as_owner=me)
                finally:
                    await store.release_operation(op.request_tag, me)
        report.deleted.append(op.account_id)

    async def _remove(self, account_id: str, request_tag: str | None) -> None:
        """Destroy what carries the account's (or request's) tag, then secrets and row."""
        token = await in_thread(TokenService(self._rt).require)
        async with self._rt.cloud(token) as do:
            for tag in filter(None, (account_tag(account_id), request_tag)):
                if await do.list_droplets(tag_name=tag):
                    await do.delete_droplets_by_tag(tag)
        for name in account_secret_names(account_id):
            await in_thread(self._rt.secrets.delete, name)
        await self._rt.store.delete_account(account_id)

    async def _adopt_lost_creates(self, report: ReconcileReport) -> None:
        """A failed connect whose account records no droplet, while DigitalOcean has one
        with the connect's request tag: the create reached DigitalOcean and its answer
        was lost. Record that droplet, so the account shows (and bills) it, resume carries
        it on, and delete removes it."""
        store = self._rt.store
        failed = [op for op in await store.operations(states=(OperationState.FAILED,))
                  if op.kind == "connect"]
        if not failed:
            return
        accounts = {a.id: a for a in await store.list_accounts()}
        candidates = [op for op in failed if op.account_id in accounts
                      and accounts[op.account_id].do_droplet_id is None]
        if not candidates:
            return
        token = await in_thread(TokenService(self._rt).require)
        async with self._rt.cloud(token) as do:
            for op in candidates:
                found = await do.list_droplets(tag_name=op.request_tag)
                if found:
                    await self._adopt(accounts[op.account_id], op, found[0])
                    report.adopted.append(op.account_id)

    async def _adopt(self, account: Account, op: PendingOperation, droplet: Droplet) -> None:
        store = self._rt.store
        await store.record_droplet(account.id, droplet_id=droplet.id, name=droplet.name,
                        size=droplet.size_slug,
                        image=str(droplet.image.slug or droplet.image.id),
                        price_monthly=droplet.size.price_monthly,
                        price_hourly=droplet.size.price_hourly)
        await store.update_account(account.id, do_ip_address=droplet.public_ipv4)
        await store.update_operation(op.request_tag, droplet_id=droplet.id)
        reason = (f"Found server {droplet.name}, made by the connect that failed "
                  f"(${droplet.size.price_monthly:g}/month).")
        await store.record_status(account.id, ServerStatus.ERROR, reason,
                        detail=StatusDetail(reason=reason, fix="Retry the connect to carry it "
                                            "on, or delete the account to remove the server."))

    async def orphans(self) -> list[Orphan]:
        """ibdesk droplets no account of this installation records, with their kind."""
        store = self._rt.store
        accounts = {a.id: a for a in await store.list_accounts()}
        recorded = {a.do_droplet_id for a in accounts.values() if a.do_droplet_id}
        unfinished = await store.operations(states=(OperationState.PENDING,
                                                              OperationState.FAILED))
        in_flight = {o.request_tag for o in unfinished if o.state is OperationState.PENDING
                     and o.owner is not None and ownership.is_alive(o.owner)}
        unrecorded = {o.request_tag: o.account_id for o in unfinished
                      if o.kind == "connect" and o.account_id in accounts
                      and accounts[o.account_id].do_droplet_id is None}
        mine = await in_thread(installation_id, self._rt.settings.home)
        token = await in_thread(TokenService(self._rt).require)
        async with self._rt.cloud(token) as do:
            droplets = await do.list_droplets(tag_name=APP_TAG)
        found = []
        for d in droplets:
            if d.id in recorded or set(d.tags) & in_flight:
                continue
            inst, account_id = installation_of(d.tags), account_of(d.tags)
            request = next((t for t in d.tags if t in unrecorded), None)
            if inst is not None and inst != mine:
                kind = OrphanKind.OTHER_INSTALLATION
            elif inst is None and account_id not in accounts:
                kind = OrphanKind.UNKNOWN_INSTALLATION
            elif request is not None:
                kind, account_id = OrphanKind.UNRECORDED, unrecorded[request]
            else:
                kind = OrphanKind.ORPHAN
            found.append(Orphan(d.id, d.name, d.region.slug, d.status, d.size.price_monthly,
                                kind, account_id, inst))
        return found

    async def delete_orphans(self, droplet_ids: list[int] | None = None) -> list[int]:
        """Destroy this installation's orphans (by default), or exactly the ones named
        (which may be another installation's: the person named each one)."""
        orphans = {o.droplet_id: o for o in await self.orphans()}
        if droplet_ids is None:
            chosen = [i for i, o in orphans.items() if o.deletable_unnamed]
        else:
            chosen = [i for i in dict.fromkeys(droplet_ids) if i in orphans]
        token = await in_thread(TokenService(self._rt).require)
        async with self._rt.cloud(token) as do:
            for droplet_id in chosen:
                try:
                    await do.delete_droplet(droplet_id)
                except NotFound:
                    pass
        return chosen


__all__ = ["ORPHAN_KIND_TEXT", "Orphan", "OrphanKind", "ReconcileReport", "Reconciler"]
