"""`ibdesk accounts`' fast read (store/listing.py): the same accounts as the repository,
printed the same, and only from a store it can vouch for."""

from __future__ import annotations

import io
import json
import sqlite3
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ibdesk.cli.accounts import _print_accounts
from ibdesk.cli.output import Output
from ibdesk.domain.enums import ServerStatus
from ibdesk.domain.models import Account, new_account_id
from ibdesk.store import Repository
from ibdesk.store.listing import AccountLine, read_accounts
from ibdesk.store.revision import SCHEMA_HEAD


def _store(path: Path) -> Repository:
    repo = Repository.open(f"sqlite:///{path}")
    bare = repo.add_account(Account(id=new_account_id("demo"), username="bare",
                                    environment="demo"))
    full = repo.add_account(Account(id=new_account_id("live"), username="full",
                                    environment="live", custom_data={"k": 1}))
    repo.record_droplet(full.id, droplet_id=410_000_042, name="full-ib-live-1",
                        size="s-1vcpu-1gb", image="docker-20-04", price_monthly=6.0)
    repo.update_account(full.id, do_region="ams3")
    repo.record_status(full.id, ServerStatus.RUNNING, "logged in",
                       at=datetime.now(UTC) + timedelta(minutes=1), do_ip_address="203.0.113.9")
    repo.set_local_port(full.id)
    repo.record_status(bare.id, ServerStatus.ERROR, "refused",
                       at=datetime(2026, 12, 1, 23, 59, 59, 999_999, tzinfo=UTC))
    return repo


def _printed(accounts: list[Account] | list[AccountLine], *, as_json: bool) -> str:
    text = io.StringIO()
    _print_accounts(accounts, Output(as_json, out=text))
    return text.getvalue()


def test_the_same_accounts_as_the_repository(tmp_path: Path) -> None:
    path = tmp_path / "ibdesk.sqlite3"
    repo = _store(path)
    slow = repo.list_accounts()
    repo.close()
    quick = read_accounts(path)
    assert quick is not None and len(quick) == len(slow) == 2
    for line, account in zip(quick, slow, strict=True):
        for field in fields(AccountLine):
            assert getattr(line, field.name) == getattr(account, field.name), field.name
    assert quick[1].do_last_status_check is not None
    assert quick[1].do_last_status_check.tzinfo is UTC and quick[1].local_port
    for as_json in (True, False):
        assert _printed(quick, as_json=as_json) == _printed(slow, as_json=as_json)
    listed = json.loads(_printed(quick, as_json=True))["accounts"]
    assert [a["username"] for a in listed] == ["bare", "full"]


def test_no_store_is_left_to_the_repository(tmp_path: Path) -> None:
    path = tmp_path / "ibdesk.sqlite3"
    assert read_accounts(path) is None
    assert not path.exists()  # this path never creates one


@pytest.mark.parametrize("revision", ["0004", "9999"])
def test_a_store_at_another_revision_is_left_to_the_repository(tmp_path: Path,
                                                              revision: str) -> None:
    """An older store must be migrated first; a newer one is refused with its reason."""
    path = tmp_path / "ibdesk.sqlite3"
    _store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", (revision,))
    conn.close()
    assert read_accounts(path) is None
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", (SCHEMA_HEAD,))
    conn.close()
    assert read_accounts(path) is not None


def test_a_file_that_is_not_a_store_is_left_to_the_repository(tmp_path: Path) -> None:
    path = tmp_path / "ibdesk.sqlite3"
    path.write_bytes(b"not a database at all" * 100)
    assert read_accounts(path) is None
    empty = tmp_path / "empty.sqlite3"
    sqlite3.connect(empty).close()  # a database without ibdesk's tables
    assert read_accounts(empty) is None
