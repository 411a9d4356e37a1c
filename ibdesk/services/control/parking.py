"""Parking a server out of hours, and bringing it back: the two schedule modes' actions.

*Power off* shuts the droplet down (`Lifecycle.stop`: cleanly, power cut as the fallback)
and powers it on again; DigitalOcean keeps billing it. *Rebuild* destroys the account's
droplets (everything with its tag) and keeps the account, its secrets and its local port;
`Provisioner.rebuild` creates the server again. Both go through the same guards as a
person's action: the lifecycle keeps IBeam disabled after a refused login, a rebuild is
refused while a refusal is on record, and each action is an operation with one owner
(the scheduler records it; a delete supersedes it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from ibdesk.domain.errors import InvalidInput, NotFound
from ibdesk.domain.models import Account, ServerStatus, StatusDetail
from ibdesk.domain.naming import account_tag
from ibdesk.domain.schedule import ScheduleMode
from ibdesk.services.connect.provisioner import Provisioner, Timing
from ibdesk.services.control.lifecycle import Lifecycle
from ibdesk.services.remote import in_thread
from ibdesk.services.runtime import Runtime
from ibdesk.services.token import TokenService

log = logging.getLogger(__name__)


class Parking:
    def __init__(self, rt: Runtime, on_progress: Callable[[str], None] | None = None,
                 timing: Timing | None = None) -> None:
        self._rt = rt
        self._say = on_progress or (lambda message: None)
        self._timing = timing

    async def park(self, account_id: str, mode: ScheduleMode, reason: str, *,
                   at: datetime | None = None) -> Account:
        """Take the server down `mode`'s way; `reason` goes into the history, `at` (the
        schedule's clock) into `parked_at`."""
        at = at or datetime.now(UTC)
        store = self._rt.store
        account = await store.require_account(account_id)
        if account.parked is not None:
            return account
        if account.do_droplet_id is None:
            raise InvalidInput(f"{account_id} has no server to take down.")
        if mode is ScheduleMode.POWER_OFF:
            # the reason first: the history keeps the line that changes the status, and the
            # lifecycle's own "off" would otherwise be it
            await store.record_status(account_id, ServerStatus.STOPPED, reason,
                                      detail=StatusDetail(reason=reason))
            await Lifecycle(self._rt, self._say).stop(account_id)
            return await store.update_account(account_id, parked=mode, parked_at=at)
        await self._destroy(account)
        await store.end_droplet_spans(account_id)
        done = f"{reason} The server was destroyed (nothing is billed until it is created " \
               "again); the account, its login and its local port are kept."
        account = await store.update_account(
            account_id, parked=mode, parked_at=at, do_droplet_id=None, do_droplet_name=None,
            do_ip_address=None, ibeam_started=False, active_since=None, unhealthy_since=None)
        await store.record_status(account_id, ServerStatus.STOPPED, done,
                                  detail=StatusDetail(reason=done))
        return account

    async def _destroy(self, account: Account) -> None:
        token = await in_thread(TokenService(self._rt).require)
        async with self._rt.cloud(token) as do:
            ours = await do.list_droplets(tag_name=account_tag(account.id))
            self._say(f"Destroying {len(ours)} server(s) of {account.id} out of hours")
            if ours:
                await do.delete_droplets_by_tag(account_tag(account.id))
            if account.do_droplet_id is not None and account.do_droplet_id not in {
                    d.id for d in ours}:
                try:
                    await do.delete_droplet(account.do_droplet_id)
                except NotFound:
                    pass

    async def unpark(self, account_id: str, reason: str) -> Account:
        """Bring a parked server back (power on, or create it again)."""
        store = self._rt.store
        account = await store.require_account(account_id)
        if account.parked is None:
            return account
        if account.parked is ScheduleMode.POWER_OFF and account.do_droplet_id is not None:
            await store.record_status(account_id, ServerStatus.INITIALIZING,
                                      f"{reason} Powering the server on.")
            await Lifecycle(self._rt, self._say).start(account_id)
            account = await store.update_account(account_id, parked=None)
            log.info("%s powered on: %s", account_id, reason)
            return account
        await store.record_status(account_id, ServerStatus.PROVISIONING,
                                  f"{reason} Creating the server again.")
        return await Provisioner(self._rt, timing=self._timing).rebuild(account_id)


__all__ = ["Parking"]
