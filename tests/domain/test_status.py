"""The status model of DESIGN.md as a table: every row, with its edge cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ibdesk.domain.enums import DropletState, IBeamVerdict, ServerStatus
from ibdesk.domain.models import GatewayHealth
from ibdesk.domain.status import (
    COMPETING_WARNING,
    REAUTH_GRACE,
    STARTUP_GRACE,
    VERDICTS,
    Observation,
    derive_status,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def health(**kw: object) -> GatewayHealth:
    base: dict[str, object] = {"checked_at": NOW, "reachable": True}
    base.update(kw)
    return GatewayHealth(**base)  # type: ignore[arg-type]


UP = health(livez=True, readyz=True, authenticated=True, connected=True, competing=False)
COMPETING = health(livez=True, readyz=True, authenticated=True, connected=True, competing=True)
DOWN = health(reachable=False, error="connection refused")
LOGGING_IN = health(livez=True, readyz=False, authenticated=False, connected=True,
                    message="session timed out")
NOT_LOGGED = health(livez=True, readyz=False, authenticated=False, connected=False)
REFUSED = health(livez=True, readyz=False, authenticated=False,
                 verdict=IBeamVerdict.PASSWORD_REFUSED)
NO_HANDLER = health(reachable=False, verdict=IBeamVerdict.NO_TWO_FA_HANDLER)
SHUTTING = health(livez=False, readyz=False)

ACTIVE = {"droplet_state": DropletState.ACTIVE, "gateway_started": True}
JUST_ACTIVE = {**ACTIVE, "active_since": NOW - timedelta(minutes=1)}
LONG_ACTIVE = {**ACTIVE, "active_since": NOW - STARTUP_GRACE - timedelta(minutes=1)}

CASES = [
    # provisioning: droplet requested or new; IBeam not installed/started yet
    ("requested", {}, ServerStatus.PROVISIONING, "Asking DigitalOcean"),
    ("new", {"droplet_state": DropletState.NEW}, ServerStatus.PROVISIONING, "building"),
    ("active, IBeam not started", {"droplet_state": DropletState.ACTIVE},
     ServerStatus.PROVISIONING, "Installing"),
    # initializing: active, gateway not answering / not authenticated, within grace
    ("booting, no answer", {**JUST_ACTIVE, "health": DOWN}, ServerStatus.INITIALIZING,
     "not answering yet"),
    ("booting, never probed", {**JUST_ACTIVE}, ServerStatus.INITIALIZING, "not answering"),
    ("booting, logging in", {**JUST_ACTIVE, "health": LOGGING_IN}, ServerStatus.INITIALIZING,
     "logging in"),
    ("booting, not logged in", {**JUST_ACTIVE, "health": NOT_LOGGED},
     ServerStatus.INITIALIZING, "not logged in"),
    ("session reset, within re-auth grace",
     {**LONG_ACTIVE, "health": LOGGING_IN, "unhealthy_since": NOW - timedelta(minutes=2)},
     ServerStatus.INITIALIZING, "timed out or was reset"),
    ("gateway restarting after running",
     {**LONG_ACTIVE, "health": DOWN, "unhealthy_since": NOW - timedelta(minutes=1)},
     ServerStatus.INITIALIZING, "stopped answering"),
    # running: readyz 200 and authenticated; competing keeps running with a warning
    ("up", {**JUST_ACTIVE, "health": UP}, ServerStatus.RUNNING, "logged in"),
    ("up long", {**LONG_ACTIVE, "health": UP}, ServerStatus.RUNNING, "logged in"),
    ("competing", {**JUST_ACTIVE, "health": COMPETING}, ServerStatus.RUNNING, "logged in"),
    # stopped: droplet off
    ("off", {"droplet_state": DropletState.OFF, "gateway_started": True},
     ServerStatus.STOPPED, "still bills"),
    # error: action errored, droplet gone, login refused, down past the grace
    ("action errored", {**ACTIVE, "health": UP, "action_error": "power on failed"},
     ServerStatus.ERROR, "power on failed"),
    ("droplet deleted outside", {"droplet_missing": True}, ServerStatus.ERROR,
     "no longer exists"),
    ("archived", {"droplet_state": DropletState.ARCHIVE}, ServerStatus.ERROR, "archived"),
    ("login refused", {**JUST_ACTIVE, "health": REFUSED}, ServerStatus.ERROR,
     "refused the username or password (IBKR sometimes does this spuriously"),
    ("IBeam shut down at the 2FA prompt, within grace", {**JUST_ACTIVE, "health": NO_HANDLER},
     ServerStatus.ERROR, "no 2FA handler"),
    ("down past start-up grace", {**LONG_ACTIVE, "health": DOWN}, ServerStatus.ERROR,
     "has not answered for 11 minutes"),
    ("never logged in past grace", {**LONG_ACTIVE, "health": NOT_LOGGED}, ServerStatus.ERROR,
     "has not logged in"),
    ("shutting down past grace", {**LONG_ACTIVE, "health": SHUTTING}, ServerStatus.ERROR,
     "has not logged in"),
    ("re-auth failed past grace",
     {**LONG_ACTIVE, "health": LOGGING_IN,
      "unhealthy_since": NOW - REAUTH_GRACE - timedelta(seconds=1)},
     ServerStatus.ERROR, "IBKR says: session timed out"),
]


@pytest.mark.parametrize(("name", "fields", "status", "words"), CASES,
                         ids=[c[0] for c in CASES])
def test_status_table(name: str, fields: dict, status: ServerStatus, words: str) -> None:
    decision = derive_status(Observation(now=NOW, **fields))
    assert decision.status is status
    assert words in decision.detail.reason


def test_every_status_is_covered_by_the_table() -> None:
    assert {c[2] for c in CASES} == set(ServerStatus)


def test_competing_is_running_with_a_warning() -> None:
    decision = derive_status(Observation(now=NOW, **JUST_ACTIVE, health=COMPETING))
    assert decision.detail.warning == COMPETING_WARNING
    assert decision.detail.competing is True
    assert derive_status(Observation(now=NOW, **JUST_ACTIVE, health=UP)).detail.warning is None


def test_detail_carries_gateway_facts_and_a_fix_for_errors() -> None:
    ok = derive_status(Observation(now=NOW, **JUST_ACTIVE, health=UP)).detail
    assert (ok.authenticated, ok.connected, ok.competing) == (True, True, False)
    assert ok.checked_at == NOW
    for _, fields, status, _ in CASES:
        detail = derive_status(Observation(now=NOW, **fields)).detail
        if status is ServerStatus.ERROR:
            assert detail.fix, fields
    stopped = derive_status(Observation(now=NOW, droplet_state=DropletState.OFF)).detail
    assert "delete" in (stopped.fix or "")


def test_every_verdict_is_an_error_at_once_with_its_fix() -> None:
    """IBeam stopped for good: waiting out the grace period would only hide it."""
    assert set(VERDICTS) == set(IBeamVerdict)
    for verdict in IBeamVerdict:
        seen = health(reachable=verdict.guarded, verdict=verdict)
        decision = derive_status(Observation(now=NOW, **JUST_ACTIVE, health=seen))
        assert decision.status is ServerStatus.ERROR
        assert (decision.detail.reason, decision.detail.fix) == VERDICTS[verdict]


def test_grace_edges_are_inclusive() -> None:
    at_edge = Observation(now=NOW, **ACTIVE, active_since=NOW - STARTUP_GRACE, health=DOWN)
    past = Observation(now=NOW, **ACTIVE, active_since=NOW - STARTUP_GRACE
                       - timedelta(seconds=1), health=DOWN)
    assert derive_status(at_edge).status is ServerStatus.INITIALIZING
    assert derive_status(past).status is ServerStatus.ERROR


def test_custom_grace_is_respected() -> None:
    obs = Observation(now=NOW, **ACTIVE, active_since=NOW - timedelta(minutes=2),
                      health=DOWN, startup_grace=timedelta(minutes=1))
    assert derive_status(obs).status is ServerStatus.ERROR
