"""Checking one account now: its droplet at DigitalOcean, then its gateway over SSH.

This is the single-account path (`ibdesk status ID`, a manual refresh). The monitor
checks many accounts per cycle the cheap way, and both end in `record`, which applies
the status rules and writes history only when the status changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ibdesk.cloud import Droplet
from ibdesk.domain.errors import GatewayError, NotFound
from ibdesk.domain.models import (
    Account,
    DropletState,
    GatewayHealth,
    IBeamVerdict,
    ServerStatus,
)
from ibdesk.domain.status import Observation, StatusDecision, derive_status
from ibdesk.gateway import probe
from ibdesk.services import ibeam_control
from ibdesk.services.remote import RemoteAccess, in_thread
from ibdesk.services.runtime import Runtime
from ibdesk.services.token import TokenService

from ibdesk.domain.models import (  # noqa: E402 - the custom_data keys, re-exported
    ACTIVE_SINCE,
    IBEAM_STARTED,
    LOGIN_REFUSED,
    PRICE_MONTHLY,
    UNHEALTHY_SINCE,
)


@dataclass(frozen=True)
class StatusReport:
    account: Account
    decision: StatusDecision
    health: GatewayHealth | None


guard_verdict = IBeamVerdict.from_mark


def _parse(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


class StatusService:
    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    async def check(self, account_id: str) -> StatusReport:
        repo = self._rt.repository
        account = await in_thread(repo.require_account, account_id)
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
        started = self._gateway_started(account)
        if droplet is not None and droplet.status == "active" and started and \
                not account.custom_data.get(LOGIN_REFUSED):
            try:
                async with RemoteAccess(self._rt).open(account) as remote:
                    health = await probe(remote)
                    if health.verdict is not None and health.verdict.guarded:
                        # the same guard as the monitor's, for those who use the CLI only
                        data = await ibeam_control.guard(remote, account, health.verdict)
                        account = await in_thread(repo.update_account, account.id,
                                                  custom_data=data)
            except GatewayError as exc:
                health = GatewayHealth(checked_at=datetime.now(UTC), reachable=False,
                                       error=exc.user_message)
        return await self.record(account, droplet, health, missing=missing)

    @staticmethod
    def _gateway_started(account: Account) -> bool:
        return bool(account.custom_data.get(IBEAM_STARTED))

    async def record(self, account: Account, droplet: Droplet | None,
                     health: GatewayHealth | None, *, missing: bool = False,
                     action_error: str | None = None) -> StatusReport:
        """Derive the status from what was seen and store it (history only on change)."""
        now = datetime.now(UTC)
        decision, fields = evaluate(account, droplet, health, now=now, missing=missing,
                                    action_error=action_error)
        repo = self._rt.repository
        await in_thread(repo.record_status, account.id, decision.status, decision.detail.reason,
                        at=now, detail=decision.detail, **fields)
        account = await in_thread(repo.require_account, account.id)
        return StatusReport(account, decision, health)


def evaluate(account: Account, droplet: Droplet | None, health: GatewayHealth | None, *,
             now: datetime, missing: bool = False, action_error: str | None = None
             ) -> tuple[StatusDecision, dict[str, object]]:
    """The status rules applied to one observation, and the account fields to write.

    Keeps the timings the rules need in `custom_data`: when the droplet became active, and
    when a gateway that had been logged in stopped being so. The failed-login guard's mark
    turns the account's status into its verdict ("IBKR refused the username or password")
    until the login is fixed.
    """
    data = dict(account.custom_data)
    state = DropletState(droplet.status) if droplet is not None else None
    if state is DropletState.ACTIVE and ACTIVE_SINCE not in data:
        data[ACTIVE_SINCE] = now.isoformat()
    if health is not None:
        if health.healthy:
            data.pop(UNHEALTHY_SINCE, None)
        elif account.do_server_status is ServerStatus.RUNNING and UNHEALTHY_SINCE not in data:
            data[UNHEALTHY_SINCE] = now.isoformat()
    if state is not DropletState.ACTIVE:
        data.pop(ACTIVE_SINCE, None)
        data.pop(UNHEALTHY_SINCE, None)
    mark = data.get(LOGIN_REFUSED)
    if mark and state is DropletState.ACTIVE:
        health = GatewayHealth(checked_at=now, reachable=True, verdict=guard_verdict(mark),
                               message="IBeam stopped by ibdesk's failed-login guard")
    decision = derive_status(Observation(
        now=now, droplet_state=state, droplet_missing=missing, action_error=action_error,
        gateway_started=bool(data.get(IBEAM_STARTED)), health=health,
        active_since=_parse(data.get(ACTIVE_SINCE)),
        unhealthy_since=_parse(data.get(UNHEALTHY_SINCE))))
    fields: dict[str, object] = {"custom_data": data}
    if droplet is not None:
        fields["do_ip_address"] = droplet.public_ipv4
    return decision, fields


__all__ = ["ACTIVE_SINCE", "IBEAM_STARTED", "LOGIN_REFUSED", "PRICE_MONTHLY", "UNHEALTHY_SINCE",
           "StatusReport", "StatusService", "evaluate", "guard_verdict"]
