"""Start, stop, restart and delete an account's server: safe and followed to the end.

Every power action is followed through `GET /v2/actions/{id}` to completed or errored,
and the account's status is updated either way. Stop asks the server to shut down
cleanly and falls back to cutting power when that fails. Delete removes only what
carries this account's tag, works when the droplet is already gone, and removes the
secrets and the row last, so a failure half-way leaves something to retry, never an
orphan droplet that keeps billing.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from ibdesk.cloud import Action, DigitalOceanClient, Droplet
from ibdesk.domain.actions import ServerAction
from ibdesk.domain.errors import CloudError, GatewayError, InvalidInput, NotFound
from ibdesk.domain.models import Account, OperationOwner, OperationState, ServerStatus
from ibdesk.domain.naming import account_tag
from ibdesk.domain.schedule import ScheduleMode
from ibdesk.secrets import account_secret_names
from ibdesk.services import ownership
from ibdesk.services.control import ibeam_control
from ibdesk.services.remote import RemoteAccess, in_thread
from ibdesk.services.runtime import Runtime
from ibdesk.services.testhooks import pause_point
from ibdesk.services.token import TokenService
from ibdesk.services.watch.status import StatusReport, StatusService

log = logging.getLogger(__name__)


BOOTS = frozenset({"reboot", "power_on", "power_cycle"})
"""Droplet actions after which the server has just booted."""


class Lifecycle:
    def __init__(self, rt: Runtime, on_progress: Callable[[str], None] | None = None,
                 action_timeout: float = 600.0, poll: float = 1.0) -> None:
        self._rt = rt
        self._say = on_progress or (lambda message: None)
        self._timeout = action_timeout
        self._poll = poll

    async def _account(self, account_id: str) -> Account:
        account = await self._rt.store.require_account(account_id)
        if account.do_droplet_id is None and account.parked is ScheduleMode.REBUILD:
            raise InvalidInput(f"{account_id}'s server is destroyed out of hours (its "
                               "schedule rebuilds it before the open); Start creates it "
                               "again now.")
        if account.do_droplet_id is None:
            raise InvalidInput(f"{account_id} has no server yet. Finish connecting it first.")
        return account

    async def _act(self, account: Account, action: str, doing: str) -> StatusReport:
        token = await in_thread(TokenService(self._rt).require)
        status = StatusService(self._rt)
        async with self._rt.cloud(token) as do:
            try:
                done = await self._follow(do, account, action, doing)
            except NotFound:
                droplet = None
                return await status.record(account, droplet, None, missing=True)
            except CloudError as exc:
                droplet = await self._droplet_or_none(do, account)
                await status.record(account, droplet, None, action_error=exc.user_message)
                raise
            droplet = await self._droplet_or_none(do, account)
        self._say(f"{doing}: {done.status}")
        if action in BOOTS and droplet is not None:
            # the server has just booted: IBeam's grace period starts now, not at the
            # droplet's first activation (which made a restart look like a long outage)
            account = await self._rt.store.update_account(account.id,
                                      active_since=datetime.now(UTC), unhealthy_since=None)
        return await status.record(account, droplet, None, missing=droplet is None)

    async def _follow(self, do: DigitalOceanClient, account: Account, action: str,
                      doing: str) -> Action:
        assert account.do_droplet_id is not None
        self._say(f"{doing}…")
        started = await do.droplet_action(account.do_droplet_id, action)  # type: ignore[arg-type]
        return await do.wait_for_action(started.id, timeout=self._timeout, poll=self._poll)

    @staticmethod
    async def _droplet_or_none(do: DigitalOceanClient, account: Account) -> Droplet | None:
        try:
            return await do.get_droplet(account.do_droplet_id or 0)
        except NotFound:
            return None

    async def _keep_refused_down(self, account: Account) -> Account:
        """Before a reboot or a shutdown: if a refusal is on record (the guard's mark, or
        IBeam's own log — IBeam may have shut itself down with nobody watching), make sure
        the unit is disabled, so that the next boot does not start IBeam with a password
        IBKR refused."""
        if not account.ibeam_started or not account.do_ip_address:
            return account
        try:
            async with RemoteAccess(self._rt).open(account) as remote:
                refusal = await ibeam_control.recorded_refusal(remote, account)
                if refusal is None:
                    return account
                account = await ibeam_control.guard(self._rt, remote, account, refusal)
        except GatewayError as exc:
            log.warning("could not check IBeam on %s before the power action: %s",
                        account.id, exc.user_message)
            return account
        self._say("IBKR refused this login: IBeam stays stopped until it is fixed")
        return account

    async def power(self, action: ServerAction, account_id: str) -> StatusReport:
        """Start, stop or restart: the power actions a person asks for by name."""
        if action is ServerAction.START:
            return await self.start(account_id)
        if action is ServerAction.STOP:
            return await self.stop(account_id)
        if action is ServerAction.RESTART:
            return await self.restart(account_id)
        raise InvalidInput(f"{action.value} is not a power action.")

    async def start(self, account_id: str) -> StatusReport:
        """Power the server on; a server its schedule destroyed is created again (a
        person's Start overrules the schedule until its next action)."""
        parked = await self._rt.store.require_account(account_id)
        if parked.parked is ScheduleMode.REBUILD and parked.do_droplet_id is None:
            from ibdesk.services.connect.provisioner import Provisioner  # noqa: PLC0415

            self._say("Creating the server again (it was destroyed out of hours)")
            await Provisioner(self._rt).rebuild(account_id)
            return await StatusService(self._rt).check(account_id)
        account = await self._account(account_id)
        if account.login_refused is not None:
            self._say("IBKR refused this login: the server starts, IBeam stays stopped")
        report = await self._act(account, "power_on", "Starting the server")
        if account.parked is not None:
            await self._rt.store.update_account(account_id, parked=None)
        return report

    async def restart(self, account_id: str) -> StatusReport:
        account = await self._keep_refused_down(await self._account(account_id))
        return await self._act(account, "reboot", "Restarting the server")

    async def stop(self, account_id: str) -> StatusReport:
        account = await self._keep_refused_down(await self._account(account_id))
        try:
            return await self._act(account, "shutdown", "Shutting the server down")
        except CloudError:
            self._say("A clean shutdown failed; cutting the power instead")
            account = await self._rt.store.require_account(account_id)
            return await self._act(account, "power_off", "Powering the server off")

    async def delete(self, account_id: str) -> bool:
        """Destroy everything tagged for this account, then its secrets and row.

        Refused (OperationBusy) while another live run connects or deletes the account:
        otherwise the connect would create its droplet after this said "Deleted". A dead
        run's unfinished connect is taken over and rolled back in the same transaction
        that records this delete, so it can no longer be resumed behind its back."""
        me = ownership.new_owner()
        with ownership.running(me):
            tag = f"ibdesk-del:{uuid.uuid4().hex[:12]}"
            try:
                return await self._delete(account_id, tag, me)
            finally:
                await self._rt.store.release_operation(tag, me)

    async def _delete(self, account_id: str, tag: str, me: OperationOwner) -> bool:
        store = self._rt.store
        account = await store.require_account(account_id)
        await store.begin_operation(tag, account_id, "delete",
                        {"droplet_id": account.do_droplet_id}, owner=me,
                        supersede=ownership.is_alive)
        pause_point("delete:recorded")
        connects = [op.request_tag for op in await store.operations(
            states=(OperationState.ROLLED_BACK,), account_id=account_id)
            if op.kind == "connect"]
        try:
            token = await in_thread(TokenService(self._rt).require)
            async with self._rt.cloud(token) as do:
                ours = await do.list_droplets(tag_name=account_tag(account_id))
                for request in connects:  # everything a connect made carries its tag too
                    known = {d.id for d in ours}
                    ours += [d for d in await do.list_droplets(tag_name=request)
                             if d.id not in known]
                self._say(f"Destroying {len(ours)} server(s) of {account_id}"
                          if ours else "The server is already gone")
                if ours:
                    await do.delete_droplets_by_tag(account_tag(account_id))
                    for droplet in ours:
                        if account_tag(account_id) not in droplet.tags:
                            with contextlib.suppress(NotFound):
                                await do.delete_droplet(droplet.id)
                if account.do_droplet_id is not None and account.do_droplet_id not in {
                        d.id for d in ours}:
                    try:  # created before it was tagged, or the tag was removed by hand
                        droplet = await do.get_droplet(account.do_droplet_id)
                        if account_tag(account_id) in droplet.tags or \
                                droplet.name == account.do_droplet_name:
                            await do.delete_droplet(droplet.id)
                    except NotFound:
                        pass
                try:
                    await do.delete_tag(account_tag(account_id))
                except NotFound:
                    pass
                pause_point("delete:droplets")
        except Exception as exc:
            await store.update_operation(tag, state=OperationState.FAILED,
                            error=getattr(exc, "user_message", type(exc).__name__))
            await store.record_status(account_id, ServerStatus.ERROR,
                            "Deleting the server failed; it may still exist. Try deleting "
                            "again.")
            raise
        for name in account_secret_names(account_id):
            await in_thread(self._rt.secrets.delete, name)
        await store.delete_account(account_id)
        await store.update_operation(tag, state=OperationState.DONE, step="deleted")
        self._say(f"Deleted {account_id}")
        return True


__all__ = ["Lifecycle"]
