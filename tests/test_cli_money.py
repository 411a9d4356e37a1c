"""`ibdesk schedule | idle | budget | report | service`: what they keep, what they show,
and a clear error (nothing changed) for what cannot be a schedule."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ibdesk.domain.enums import ServerStatus
from ibdesk.domain.models import DropletSpan
from ibdesk.services import open_runtime
from tests.helpers.accounts import running_account
from tests.test_cli import run


def _account(home: Path) -> str:
    """An account made three hours ago, running since."""
    rt = open_runtime(home)
    try:
        return running_account(rt.repository, timedelta(hours=3))
    finally:
        rt.close()


def test_schedule_set_and_shown_with_both_prices(capsys: pytest.CaptureFixture[str],
                                                 home: Path) -> None:
    account_id = _account(home)
    code, out, err = run(capsys, "--json", "schedule", account_id)
    assert code == 0, err
    shown = json.loads(out)
    assert shown["schedule"] == "always-on" and shown["month"]["scheduled"] == 6.0
    code, out, err = run(capsys, "--json", "schedule", account_id, "--trading-hours",
                         "--mode", "rebuild", "--lead", "30m", "--hours", "09:30-16:00")
    assert code == 0, err
    data = json.loads(out)
    assert data["schedule"] == "trading-hours" and data["mode"] == "rebuild"
    assert data["lead_minutes"] == 30 and data["tz"] == "America/New_York"
    assert data["month"]["power_off"] == 6.0  # billed in full while powered off
    assert 0 < data["month"]["rebuild"] < data["month"]["power_off"]
    assert data["month"]["scheduled"] == data["month"]["rebuild"]
    code, out, _ = run(capsys, "schedule", account_id)
    assert code == 0 and "with rebuild $" in out and "power off $6.00" in out
    assert "runs only while the ibdesk window or its service runs" in out


@pytest.mark.parametrize(("argv", "said"), [
    (["--trading-hours", "--hours", "16:00-09:30"], "--hours: '16:00-09:30': the close"),
    (["--trading-hours", "--tz", "Mars/Olympus"], "not a time zone"),
    (["--trading-hours", "--days", "weekdays"], "--days: 'weekdays' is not a set of days"),
    (["--trading-hours", "--lead", "soon"], "--lead: 'soon' is not a duration"),
    (["--trading-hours", "--calendar", "NOPE"], "no holiday calendar 'NOPE'"),
])
def test_a_bad_schedule_is_one_clear_line_and_changes_nothing(
        capsys: pytest.CaptureFixture[str], home: Path, argv: list[str], said: str) -> None:
    account_id = _account(home)
    code, _, err = run(capsys, "schedule", account_id, *argv)
    assert code == 1 and said in err and len(err.strip().splitlines()) == 1, err
    code, out, _ = run(capsys, "--json", "schedule", account_id)
    assert json.loads(out)["schedule"] == "always-on"


def test_idle_shutdown(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    account_id = _account(home)
    code, out, err = run(capsys, "--json", "idle", account_id, "--after", "8h")
    assert code == 0, err and json.loads(out)["idle_after_minutes"] == 480
    code, out, _ = run(capsys, "idle", account_id, "--after", "1h30m")
    assert code == 0 and "idle after 1h30m" in out and "ibdesk's tunnel" in out
    code, _, err = run(capsys, "idle", account_id, "--after", "5m")
    assert code == 1 and "at least 15 minutes" in err
    code, out, _ = run(capsys, "--json", "idle", account_id, "--off")
    assert json.loads(out)["idle_after_minutes"] is None


def test_budget(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    _account(home)
    code, out, _ = run(capsys, "budget")
    assert code == 0 and "budget: none" in out
    code, out, err = run(capsys, "--json", "budget", "2")
    assert code == 0, err
    data = json.loads(out)
    assert data["budget"] == 2.0 and data["heading_over"] is True  # $6 a month, always on
    assert "On course to exceed the monthly budget" in data["warning"]
    assert "budget_monthly = 2.0" in (home / "settings.toml").read_text()
    code, _, err = run(capsys, "budget", "lots")
    assert code == 1 and "not an amount in USD" in err
    code, out, _ = run(capsys, "--json", "budget", "--off")
    assert json.loads(out)["budget"] is None


def test_report_json_and_csv(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    account_id = _account(home)
    rt = open_runtime(home)
    try:
        now = datetime.now(UTC)
        rt.repository.record_status(account_id, ServerStatus.ERROR, "Gateway down.",
                                    at=now - timedelta(minutes=30))
        rt.repository.record_status(account_id, ServerStatus.RUNNING, "Back.",
                                    at=now - timedelta(minutes=20))
        rt.repository.add_droplet_span(DropletSpan(
            account_id="ib-demo-99999999", droplet_id=7, started_at=now - timedelta(hours=3),
            ended_at=now - timedelta(hours=1), price_hourly=0.00595, price_monthly=4.0))
    finally:
        rt.close()
    code, out, err = run(capsys, "--json", "report", "--since", "2h")
    assert code == 0, err
    data = json.loads(out)
    (account,) = data["accounts"]
    assert [o["reason"] for o in account["outages"]] == ["Gateway down."]
    assert account["outages"][0]["seconds"] == pytest.approx(600, abs=2)
    assert 0.9 < account["uptime"] < 0.95  # 10 of 120 minutes down
    assert data["cost"]["month_so_far"] >= round(2 * 0.00595, 2)  # a deleted account's too
    code, out, _ = run(capsys, "report", "--since", "2h", "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0]["account_id"] == account_id and rows[0]["outage_reason"] == "Gateway down."
    code, _, err = run(capsys, "report", "--since", "forever")
    assert code == 1 and "--since" in err


def test_service_status_says_where_it_would_be(capsys: pytest.CaptureFixture[str],
                                               home: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    code, out, err = run(capsys, "--json", "service", "status")
    assert code == 0, err
    data = json.loads(out)
    assert data["installed"] is False
    assert data["where"] == str(tmp_path / "config/systemd/user/ibdesk-watch.service")
