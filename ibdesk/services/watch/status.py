"""Checking one account now: its droplet at DigitalOcean, then its gateway over SSH.

This is the single-account path (`ibdesk status ID`, a manual refresh). The monitor
checks many accounts per cycle the cheap way, and both end in `record`, which applies
the status rules and writes history only when the status changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ibdesk.cloud import Droplet, DropletSummary
from ibdesk.domain.errors import GatewayError, NotFound
from ibdesk.domain.models import (
    Account,
    DropletState,
    GatewayHealth,
    ServerStatus,
)
from ibdesk.domain.status import Observation, StatusDecision, derive_status
from ibdesk.gateway import probe
from ibdesk.services.control import ibeam_control
from ibdesk.services.remote import RemoteAccess, in_thread
from ibdesk.services.runtime import Runtime
from ibdesk.services.token import TokenService


@dataclass(frozen=True)
class StatusReport:
    account: Account
    decision: StatusDecision
    health: GatewayHealth | None


class StatusService:
    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    async def check(self, account_id: str) -> StatusReport:
        store = self._rt.store
        account = await store.require_account(account_id)
        droplet: Droplet | None = None
        missing = False
        if account.do_droplet_id is not None:
            token = await in_thread(TokenService(self._rt).require)
            async with self._rt.cloud(token) as do:
                try:
                    droplet = await do.get_droplet(account.do_droplet_id)
                except NotFound:
                    missing = True
        health = None
        if droplet is not None and droplet.status == "active" and account.ibeam_started and \
                account.login_refused is None:
            try:
                async with RemoteAccess(self._rt).open(account) as remote:
                    health = await probe(remote)
                    if health.verdict is not None and health.verdict.guarded:
                        # the same guard as the monitor's, for those who use the CLI only
                        account = await ibeam_control.guard(self._rt, remote, account,
                                                            health.verdict)
            except GatewayError as exc:
                health = GatewayHealth(checked_at=datetime.now(UTC), reachable=False,
                                       error=exc.user_message)
        return await self.record(account, droplet, health, missing=missing)

    async def record(self, account: Account, droplet: Droplet | None,
                     health: GatewayHealth | None, *, missing: bool = False,
                     action_error: str | None = None) -> StatusReport:
        """Derive the status from what was seen and store it (history only on change)."""
        now = datetime.now(UTC)
        decision, fields = evaluate(account, droplet, health, now=now, missing=missing,
                                    action_error=action_error)
        store = self._rt.store
        await store.record_status(account.id, decision.status, decision.detail.reason,
                        at=now, detail=decision.detail, basis=basis(account), **fields)
        account = await store.require_account(account.id)
        return StatusReport(account, decision, health)


def basis(account: Account) -> dict[str, object]:
    """The facts of `account` its status is derived from (besides what was observed): a
    result is written only while the row still holds these (a new password given, or a
    new droplet recorded, during the look makes the look stale)."""
    return {"do_droplet_id": account.do_droplet_id, "ibeam_started": account.ibeam_started,
            "login_refused": account.login_refused}


def evaluate(account: Account, droplet: DropletSummary | None, health: GatewayHealth | None, *,
             now: datetime, missing: bool = False, action_error: str | None = None
             ) -> tuple[StatusDecision, dict[str, object]]:
    """The status rules applied to one observation, and the account fields that change.

    Keeps the timings the rules need: when the droplet became active, and when a gateway
    that had been logged in stopped being so. Only fields whose value changes are
    returned, so that writing them back cannot undo what another writer did meanwhile
    (the refused-login mark, a pin) from a copy read before. The failed-login guard's
    mark turns the account's status into its verdict until the login is fixed.
    """
    active_since, unhealthy_since = account.active_since, account.unhealthy_since
    state = DropletState(droplet.status) if droplet is not None else None
    if state is DropletState.ACTIVE and active_since is None:
        active_since = now
    if health is not None:
        if health.healthy:
            unhealthy_since = None
        elif account.do_server_status is ServerStatus.RUNNING and unhealthy_since is None:
            unhealthy_since = now
    if state is not DropletState.ACTIVE:
        active_since = unhealthy_since = None
    if account.login_refused is not None and state is DropletState.ACTIVE:
        health = GatewayHealth(checked_at=now, reachable=True, verdict=account.login_refused,
                               message="IBeam stopped by ibdesk's failed-login guard")
    decision = derive_status(Observation(
        now=now, droplet_state=state, droplet_missing=missing, action_error=action_error,
        gateway_started=account.ibeam_started, health=health, active_since=active_since,
        unhealthy_since=unhealthy_since))
    fields: dict[str, object] = {}
    if active_since != account.active_since:
        fields["active_since"] = active_since
    if unhealthy_since != account.unhealthy_since:
        fields["unhealthy_since"] = unhealthy_since
    if droplet is not None and droplet.public_ipv4 != account.do_ip_address:
        fields["do_ip_address"] = droplet.public_ipv4
    return decision, fields


__all__ = ["StatusReport", "StatusService", "basis", "evaluate"]
