"""Status derivation: one pure function from what was observed to what the trader sees.

The monitor, the provisioner and the tests all call `derive_status`, so the rules of
DESIGN.md's status model live in exactly one place:

| status         | when                                                               |
|----------------|--------------------------------------------------------------------|
| provisioning   | droplet not created yet, `new`, or `active` but IBeam not started  |
| initializing   | `active`, gateway not answering / not authenticated, within grace  |
| running        | `/readyz` 200 and authenticated (competing → running + warning)    |
| stopped        | droplet `off` (still billed)                                       |
| error          | action errored, droplet gone, login refused, down past the grace   |
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from ibdesk.domain.diagnosis import CHECK_PASSWORD_FIX, REFUSED_LOGIN
from ibdesk.domain.ibeam import MAX_REFUSED_CODES
from ibdesk.domain.models import (
    DropletState,
    GatewayHealth,
    IBeamVerdict,
    ServerStatus,
    StatusDetail,
)

STARTUP_GRACE = timedelta(minutes=10)
"""IBeam needs a few minutes after boot: image pull, gateway start, first login."""

REAUTH_GRACE = timedelta(minutes=5)
"""A session that timed out or hit IBKR's daily reset is logged in again by IBeam."""


class Observation(BaseModel):
    """Everything `derive_status` looks at, gathered by the caller."""

    model_config = ConfigDict(frozen=True)

    now: datetime
    droplet_state: DropletState | None = None
    droplet_missing: bool = False
    action_error: str | None = None
    gateway_started: bool = False
    health: GatewayHealth | None = None
    active_since: datetime | None = None
    unhealthy_since: datetime | None = None
    """When a gateway that had been logged in stopped being so; None if it never was."""
    startup_grace: timedelta = STARTUP_GRACE
    reauth_grace: timedelta = REAUTH_GRACE


class StatusDecision(BaseModel):
    model_config = ConfigDict(frozen=True)

    status: ServerStatus
    detail: StatusDetail


COMPETING_WARNING = (
    "Another session (TWS, the IBKR mobile app or another gateway) is using this IBKR "
    "login. Only one session per username can trade; log out of the other one."
)


VERDICTS: dict[IBeamVerdict, tuple[str, str]] = {
    IBeamVerdict.PASSWORD_REFUSED: (
        REFUSED_LOGIN,
        CHECK_PASSWORD_FIX + " IBeam is stopped meanwhile, so that IBKR does not lock the "
        "username."),
    IBeamVerdict.CODES_REFUSED: (
        f"IBKR refused {MAX_REFUSED_CODES} of the 2FA codes this server made: the "
        "authenticator (TOTP) secret is wrong, or the server's clock is off. ibdesk stopped "
        "IBeam, which would otherwise keep trying once a minute.",
        "Check the server's clock (Diagnose); if it is right, delete the account and connect "
        "it again with the right authenticator secret."),
    IBeamVerdict.NO_TWO_FA_HANDLER: (
        "IBKR asked this login for a second factor and the server has no 2FA handler, so "
        "IBeam shut down.",
        "Delete the account and connect it again with the PYOTP 2FA handler and its "
        "authenticator (TOTP) secret."),
    IBeamVerdict.SECRETS_UNREADABLE: (
        "IBeam could not read its login files on the server (they must belong to IBeam's "
        "user, uid 1000), so it shut down.",
        "Give ibdesk the password again (New password…): it rewrites the files for IBeam's "
        "user."),
    IBeamVerdict.OUTPUTS_UNWRITABLE: (
        "IBeam cannot write its log on the server (its outputs folder must belong to IBeam's "
        "user, uid 1000), so it stopped before starting.",
        "This server was set up by an older ibdesk: delete the account and connect it "
        "again."),
    IBeamVerdict.TWO_FA_MISCONFIGURED: (
        "IBeam's 2FA handler cannot make codes (PYOTP without its secret), so IBeam stopped.",
        "Delete the account and connect it again with the authenticator (TOTP) secret."),
}
"""What each of IBeam's stops means for the trader, and what to do: (reason, fix)."""


def _minutes(delta: timedelta) -> str:
    minutes = max(1, round(delta.total_seconds() / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _decide(obs: Observation, status: ServerStatus, reason: str, fix: str | None = None,
            warning: str | None = None) -> StatusDecision:
    health = obs.health
    return StatusDecision(
        status=status,
        detail=StatusDetail(
            reason=reason,
            fix=fix,
            warning=warning,
            authenticated=health.authenticated if health else None,
            connected=health.connected if health else None,
            competing=health.competing if health else None,
            gateway_message=health.message if health else "",
            checked_at=health.checked_at if health else obs.now,
            latency_ms=health.latency_ms if health else None,
        ),
    )


DELETED_OUTSIDE = "The server no longer exists on DigitalOcean: it was deleted outside ibdesk."
"""The reason of an account whose droplet is gone without ibdesk deleting it (its alert
is told apart by it)."""


def derive_status(obs: Observation) -> StatusDecision:
    """The status and its explanation for one account at `obs.now`."""
    if obs.action_error:
        return _decide(obs, ServerStatus.ERROR, f"The last action failed: {obs.action_error}",
                       "Try it again. If it fails again, run Diagnose for this account.")
    if obs.droplet_missing:
        return _decide(
            obs, ServerStatus.ERROR,
            DELETED_OUTSIDE,
            "Delete this account in ibdesk, or connect it again to create a new server.")
    state = obs.droplet_state
    if state is None:
        return _decide(obs, ServerStatus.PROVISIONING, "Asking DigitalOcean for a server.")
    if state is DropletState.NEW:
        return _decide(obs, ServerStatus.PROVISIONING, "DigitalOcean is building the server.")
    if state is DropletState.OFF:
        return _decide(
            obs, ServerStatus.STOPPED,
            "The server is powered off. DigitalOcean still bills a powered-off server.",
            "Start it to use the gateway, or delete it to stop the charge.")
    if state is DropletState.ARCHIVE:
        return _decide(obs, ServerStatus.ERROR, "DigitalOcean has archived this server.",
                       "Delete the account and connect it again, or ask DigitalOcean support.")
    # The droplet is active from here on.
    if not obs.gateway_started:
        return _decide(obs, ServerStatus.PROVISIONING,
                       "Installing and starting IBeam on the server.")
    health = obs.health
    if health is not None and health.verdict is not None:
        reason, fix = VERDICTS[health.verdict]
        return _decide(obs, ServerStatus.ERROR, reason, fix)
    if health is not None and health.healthy:
        if health.competing:
            return _decide(obs, ServerStatus.RUNNING, "The gateway is logged in to IBKR.",
                           warning=COMPETING_WARNING)
        return _decide(obs, ServerStatus.RUNNING, "The gateway is logged in to IBKR.")
    return _not_ready(obs)


def _not_ready(obs: Observation) -> StatusDecision:
    """Active droplet, IBeam started, gateway not (yet/any more) logged in."""
    health = obs.health
    recovering = obs.unhealthy_since is not None
    if obs.unhealthy_since is not None:
        since, grace = obs.unhealthy_since, obs.reauth_grace
    else:
        since, grace = obs.active_since or obs.now, obs.startup_grace
    waited = obs.now - since
    message = f" IBKR says: {health.message}" if health and health.message else ""

    if health is None or not health.reachable:
        if waited <= grace:
            what = ("The gateway stopped answering; waiting for it to come back." if recovering
                    else "The gateway on the server is not answering yet.")
            if health is not None and health.error:
                what += f" ({health.error})"
            return _decide(obs, ServerStatus.INITIALIZING, what)
        return _decide(
            obs, ServerStatus.ERROR,
            f"The gateway has not answered for {_minutes(waited)}."
            + (f" ({health.error})" if health and health.error else ""),
            "Restart the server. If that does not help, run Diagnose for this account.")
    if health.connected and not health.authenticated:
        what = ("The IBKR session timed out or was reset for the day; IBeam is logging in again."
                if recovering else "IBeam is logging in to IBKR.")
    elif health.livez is False:
        what = "IBeam is shutting down."
    elif recovering:
        what = "The gateway is not logged in any more; IBeam is logging in again."
    else:
        what = "IBeam is running but not logged in to IBKR yet."
    if health.error:
        what += f" ({health.error})"
    if waited <= grace:
        return _decide(obs, ServerStatus.INITIALIZING, what + message)
    return _decide(
        obs, ServerStatus.ERROR,
        f"IBeam has not logged in to IBKR for {_minutes(waited)}.{message}",
        "If the login uses 2FA, approve it or check the 2FA setting; otherwise run Diagnose "
        "for this account.")


__all__ = [
    "COMPETING_WARNING",
    "VERDICTS",
    "Observation",
    "REAUTH_GRACE",
    "STARTUP_GRACE",
    "StatusDecision",
    "derive_status",
]
