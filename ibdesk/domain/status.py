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

from ibdesk.domain.models import DropletState, GatewayHealth, ServerStatus, StatusDetail

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


def derive_status(obs: Observation) -> StatusDecision:
    """The status and its explanation for one account at `obs.now`."""
    if obs.action_error:
        return _decide(obs, ServerStatus.ERROR, f"The last action failed: {obs.action_error}",
                       "Try it again. If it fails again, run Diagnose for this account.")
    if obs.droplet_missing:
        return _decide(
            obs, ServerStatus.ERROR,
            "The server no longer exists on DigitalOcean: it was deleted outside ibdesk.",
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
        return _decide(obs, ServerStatus.PROVISIONING, "Installing and starting IBeam on the server.")
    health = obs.health
    if health is not None and health.login_refused:
        return _decide(
            obs, ServerStatus.ERROR, "IBKR refused the password for this login.",
            "Enter the correct password. IBeam's retries are stopped so that IBKR does not "
            "lock the username.")
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
    "Observation",
    "REAUTH_GRACE",
    "STARTUP_GRACE",
    "StatusDecision",
    "derive_status",
]
