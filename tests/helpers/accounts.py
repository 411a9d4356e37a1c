"""An account recorded straight into the store, with a server and a history: for the
tests of what reads the store (the schedule, cost and report commands and views)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ibdesk.domain.enums import Environment, ServerStatus
from ibdesk.domain.models import Account
from ibdesk.store import Repository

ACCOUNT_ID = "ib-paper-0a1b2c3d"


def running_account(repo: Repository, age: timedelta,
                    *outages: tuple[timedelta, timedelta, str]) -> str:
    """An s-1vcpu-1gb paper account made `age` ago, running since, but for each outage
    (from, to after it was made, reason)."""
    made = datetime.now(UTC) - age
    account = repo.add_account(Account(id=ACCOUNT_ID, username="jane",
                                       environment=Environment.PAPER, created_at=made))
    repo.record_droplet(account.id, droplet_id=41, name="jane-paper", size="s-1vcpu-1gb",
                        image="ubuntu-24-04-x64", price_monthly=6.0, price_hourly=0.00893)
    repo.record_status(account.id, ServerStatus.RUNNING, "Logged in.", at=made)
    for start, end, reason in outages:
        repo.record_status(account.id, ServerStatus.ERROR, reason, at=made + start)
        repo.record_status(account.id, ServerStatus.RUNNING, "Logged in again.",
                           at=made + end)
    return account.id
