"""Recovering after a crash: every unfinished operation is finished or undone.

Runs at start-up and on `ibdesk reconcile`. For each pending operation (left by a
process that died: a live owner is left alone) it finds what exists by the operation's
tags and carries it to its end or rolls it back, so the outcome is always an account
that reaches `running` or one that is cleanly gone. It never creates a second droplet
for one request: the provisioner looks the droplet up by its request tag first.

Droplets tagged `ibdesk` that no account owns and no operation explains are orphans: they
are listed with their monthly cost and deleted only when the person says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ibdesk.domain.errors import IbdeskError, NotFound
from ibdesk.domain.models import OperationState, PendingOperation
from ibdesk.domain.naming import APP_TAG, account_tag
from ibdesk.secrets import account_secret_names, ibkr_password
from ibdesk.services.lifecycle import Lifecycle
from ibdesk.services.provisioner import Provisioner, Timing
from ibdesk.services.remote import in_thread, owner_alive
from ibdesk.services.runtime import Runtime
from ibdesk.services.token import TokenService

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Orphan:
    droplet_id: int
    name: str
    region: str
    status: str
    price_monthly: float


@dataclass
class ReconcileReport:
    finished: list[str] = field(default_factory=list)
    """Accounts whose connect was carried to the end."""
    rolled_back: list[str] = field(default_factory=list)
    """Accounts removed because their connect could not go on (no password kept yet)."""
    deleted: list[str] = field(default_factory=list)
    """Accounts whose interrupted delete was finished."""
    failed: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    """Operations another live ibdesk process is still working on."""
    orphans: list[Orphan] = field(default_factory=list)


class Reconciler:
    def __init__(self, rt: Runtime, timing: Timing | None = None) -> None:
        self._rt = rt
        self._timing = timing

    async def run(self) -> ReconcileReport:
        report = ReconcileReport()
        repo = self._rt.repository
        for op in await in_thread(repo.operations, states=(OperationState.PENDING,)):
            if owner_alive(op.payload.get("owner")):
                report.skipped.append(op.account_id)
                continue
            try:
                if op.kind == "connect":
                    await self._connect(op, report)
                elif op.kind == "delete":
                    await self._delete(op, report)
            except IbdeskError as exc:
                report.failed[op.account_id] = exc.user_message
                log.warning("reconcile of %s failed: %s", op.account_id, exc.user_message)
        report.orphans = await self.orphans()
        return report

    async def _connect(self, op: PendingOperation, report: ReconcileReport) -> None:
        repo = self._rt.repository
        account = await in_thread(repo.get_account, op.account_id)
        password = await in_thread(self._rt.secrets.get, ibkr_password(op.account_id))
        if account is None or not password:
            # Killed before the password was kept: nothing can carry this on.
            await self._remove(op.account_id, op.request_tag)
            await in_thread(repo.update_operation, op.request_tag,
                            state=OperationState.ROLLED_BACK)
            report.rolled_back.append(op.account_id)
            return
        await Provisioner(self._rt, timing=self._timing).resume(op.account_id)
        report.finished.append(op.account_id)

    async def _delete(self, op: PendingOperation, report: ReconcileReport) -> None:
        repo = self._rt.repository
        if await in_thread(repo.get_account, op.account_id) is not None:
            await in_thread(repo.update_operation, op.request_tag,
                            state=OperationState.ROLLED_BACK)  # the new delete records its own
            await Lifecycle(self._rt).delete(op.account_id)
        else:
            await self._remove(op.account_id, None)
            await in_thread(repo.update_operation, op.request_tag, state=OperationState.DONE)
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
        await in_thread(self._rt.repository.delete_account, account_id)

    async def orphans(self) -> list[Orphan]:
        repo = self._rt.repository
        owned = {a.do_droplet_id for a in await in_thread(repo.list_accounts)}
        pending = {o.request_tag for o in await in_thread(repo.operations,
                                                          states=(OperationState.PENDING,))}
        accounts = {a.id for a in await in_thread(repo.list_accounts)}
        token = await in_thread(TokenService(self._rt).require)
        async with self._rt.cloud(token) as do:
            droplets = await do.list_droplets(tag_name=APP_TAG)
        found = []
        for d in droplets:
            if d.id in owned or set(d.tags) & pending:
                continue
            if any(t.startswith("ibdesk:") and t.removeprefix("ibdesk:") in accounts
                   for t in d.tags):
                continue
            found.append(Orphan(d.id, d.name, d.region.slug, d.status, d.size.price_monthly))
        return found

    async def delete_orphans(self, droplet_ids: list[int] | None = None) -> list[int]:
        """Destroy the orphans named (all of them by default); only ibdesk-tagged ones."""
        orphans = {o.droplet_id: o for o in await self.orphans()}
        chosen = list(orphans) if droplet_ids is None else [i for i in droplet_ids
                                                            if i in orphans]
        token = await in_thread(TokenService(self._rt).require)
        async with self._rt.cloud(token) as do:
            for droplet_id in chosen:
                try:
                    await do.delete_droplet(droplet_id)
                except NotFound:
                    pass
        return chosen


__all__ = ["Orphan", "ReconcileReport", "Reconciler"]
