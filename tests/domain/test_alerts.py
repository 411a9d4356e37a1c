"""Which incidents become alerts: once when one starts, once when it clears."""

from __future__ import annotations

from ibdesk.domain.alerts import AlertKind, Incidents, account_incident
from ibdesk.domain.enums import IBeamVerdict, ServerStatus

ID = "ib-live-1a2b3c4d"


def test_an_incident_is_said_once_and_its_end_once() -> None:
    incidents = Incidents()
    assert incidents.account_seen(ID, ServerStatus.RUNNING, None, "fine") == []
    first = incidents.account_seen(ID, ServerStatus.ERROR, None, "no answer")
    assert [(a.kind, a.recovered) for a in first] == [(AlertKind.GATEWAY_DOWN, False)]
    assert first[0].subject == ID and "Gateway down" in first[0].title
    for _ in range(5):  # the monitor looks again and again: nothing new to say
        assert incidents.account_seen(ID, ServerStatus.ERROR, None, "no answer") == []
    # on its way back (IBeam starting, logging in) the incident is not over yet
    assert incidents.account_seen(ID, ServerStatus.INITIALIZING, None, "starting") == []
    back = incidents.account_seen(ID, ServerStatus.RUNNING, None, "logged in")
    assert [(a.kind, a.recovered) for a in back] == [(AlertKind.GATEWAY_DOWN, True)]
    assert "recovered" in back[0].title
    assert incidents.account_seen(ID, ServerStatus.RUNNING, None, "logged in") == []


def test_a_down_gateway_that_turns_out_refused_says_the_new_cause() -> None:
    incidents = Incidents()
    incidents.account_seen(ID, ServerStatus.ERROR, None, "no answer")
    refused = incidents.account_seen(ID, ServerStatus.ERROR, IBeamVerdict.PASSWORD_REFUSED,
                                     "IBKR refused the password")
    assert [(a.kind, a.recovered) for a in refused] == [(AlertKind.LOGIN_REFUSED, False)]
    assert incidents.open[ID][0] is AlertKind.LOGIN_REFUSED


def test_what_each_status_is() -> None:
    assert account_incident(ServerStatus.ERROR, IBeamVerdict.CODES_REFUSED) is \
        AlertKind.CODES_REFUSED
    assert account_incident(ServerStatus.STOPPED, None) is None
    assert account_incident(ServerStatus.INITIALIZING, None) is None


def test_monitoring_degraded_is_an_incident_of_ibdesk_itself() -> None:
    incidents = Incidents()
    start = incidents.monitoring_seen("DigitalOcean does not answer")
    assert [(a.kind, a.subject) for a in start] == [(AlertKind.MONITORING_DEGRADED, "ibdesk")]
    assert incidents.monitoring_seen("DigitalOcean does not answer") == []
    assert [a.recovered for a in incidents.monitoring_seen(None)] == [True]
    assert incidents.monitoring_seen(None) == []


def test_a_server_deleted_outside_ibdesk_is_its_own_incident() -> None:
    from ibdesk.domain.status import DELETED_OUTSIDE

    assert account_incident(ServerStatus.ERROR, None, DELETED_OUTSIDE) is \
        AlertKind.DELETED_OUTSIDE
    assert account_incident(ServerStatus.ERROR, None, "no answer") is AlertKind.GATEWAY_DOWN


def test_quiet_hours_across_midnight() -> None:
    from datetime import datetime

    from ibdesk.domain.alerts import QuietHours

    quiet = QuietHours.parse("22:00-07:00")
    assert quiet is not None
    assert quiet.quiet(datetime(2026, 12, 1, 23, 30)) and quiet.quiet(datetime(2026, 12, 2, 6))
    assert not quiet.quiet(datetime(2026, 12, 2, 7, 0))
    assert quiet.seconds_left(datetime(2026, 12, 1, 23, 0)) == 8 * 3600
    assert quiet.seconds_left(datetime(2026, 12, 2, 12, 0)) == 0
    assert QuietHours.parse(None) is None
