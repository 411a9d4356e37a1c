from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from ibdesk.domain.errors import DatabaseCorrupt, DatabaseTooNew, InvalidInput, StoreError
from ibdesk.domain.models import IBeamVerdict
from ibdesk.store import Repository, create_store_engine, current_revision, head_revision, migrate
from ibdesk.store.database import WRITE, _alembic_config
from ibdesk.store.schema import Base

SEED_COLUMNS = {"do_droplet_id", "do_droplet_name", "do_server_status", "do_ip_address",
                "do_region", "do_last_status_check", "custom_data"}


def _upgrade_to(url: str, revision: str) -> None:
    engine = create_store_engine(url)
    with engine.connect().execution_options(**WRITE) as conn, conn.begin():
        config = _alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    engine.dispose()


def test_migrates_an_empty_file_to_head(db_url: str) -> None:
    engine = create_store_engine(db_url)
    assert migrate(engine) == head_revision() == current_revision(engine)
    tables = set(inspect(engine).get_table_names())
    assert {"accounts", "status_history", "pending_operations", "alembic_version"} <= tables
    columns = {c["name"] for c in inspect(engine).get_columns("accounts")}
    assert SEED_COLUMNS <= columns
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 10_000
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_migrating_twice_changes_nothing(db_url: str) -> None:
    engine = create_store_engine(db_url)
    migrate(engine)
    migrate(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_models_match_the_newest_migration(db_url: str) -> None:
    engine = create_store_engine(db_url)
    migrate(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_upgrade_path_keeps_data(db_url: str, tmp_path: Path) -> None:
    _upgrade_to(db_url, "0001")
    raw = sqlite3.connect(tmp_path / "ibdesk.sqlite3")
    raw.execute(
        "INSERT INTO accounts (id, username, environment, do_droplet_id, do_droplet_name,"
        " do_server_status, do_ip_address, do_region, custom_data, created_at, updated_at)"
        " VALUES ('ib-demo-a1b2c3d4', 'jdoe', 'demo', 123, 'jdoe-ib-demo-1', 'running',"
        " '203.0.113.5', 'nyc1', '{\"note\": \"seed\"}', '2026-01-01 00:00:00',"
        " '2026-01-01 00:00:00')")
    raw.execute("INSERT INTO status_history (account_id, at, status, previous, reason) VALUES"
                " ('ib-demo-a1b2c3d4', '2026-01-01 00:00:00', 'running', NULL, 'seed')")
    raw.commit()
    raw.close()

    repo = Repository.open(db_url)  # runs 0002
    try:
        account = repo.require_account("ib-demo-a1b2c3d4")
        assert account.do_droplet_id == 123 and account.do_ip_address == "203.0.113.5"
        assert account.custom_data == {"note": "seed"}
        assert account.do_size is None
        assert [e.reason for e in repo.history(account.id)] == ["seed"]
        assert current_revision(repo.engine) == head_revision()
    finally:
        repo.close()


def test_downgrade_and_upgrade_round_trip(db_url: str) -> None:
    engine = create_store_engine(db_url)
    migrate(engine)
    with engine.connect().execution_options(**WRITE) as conn, conn.begin():
        config = _alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    migrate(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_database_from_a_newer_version_is_refused_untouched(db_url: str, tmp_path: Path) -> None:
    engine = create_store_engine(db_url)
    migrate(engine)
    engine.dispose()  # else its pooled connection, closed whenever it is collected, is the
    # last one and checkpoints the WAL into the file in the middle of the comparison
    path = tmp_path / "ibdesk.sqlite3"
    raw = sqlite3.connect(path)
    raw.execute("UPDATE alembic_version SET version_num = '9999_future'")
    raw.commit()
    raw.close()
    before = path.read_bytes()
    with pytest.raises(DatabaseTooNew) as info:
        Repository.open(db_url)
    assert str(path) in info.value.user_message
    assert "newer version" in info.value.user_message
    assert path.read_bytes() == before


@pytest.mark.parametrize("content", [b"this is not a database at all" * 100,
                                     b"SQLite format 3\x00" + b"\xff" * 4000])
def test_corrupt_file_is_refused_untouched(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "ibdesk.sqlite3"
    path.write_bytes(content)
    with pytest.raises(DatabaseCorrupt) as info:
        Repository.open(f"sqlite:///{path}")
    assert str(path) in info.value.user_message
    assert path.read_bytes() == content


def test_someone_elses_database_is_not_adopted(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite3"
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE invoices (id INTEGER)")
    raw.commit()
    raw.close()
    with pytest.raises(StoreError, match="not ibdesk's"):
        Repository.open(f"sqlite:///{path}")


def test_in_memory_url_works() -> None:
    repo = Repository.open("sqlite://")
    assert repo.list_accounts() == []
    repo.close()


def test_the_fast_path_knows_the_newest_migration() -> None:
    from ibdesk.store.database import SCHEMA_HEAD

    assert SCHEMA_HEAD == head_revision()


def test_0003_carries_operation_owners_over(db_url: str, tmp_path: Path) -> None:
    _upgrade_to(db_url, "0002")
    raw = sqlite3.connect(tmp_path / "ibdesk.sqlite3")
    for tag, payload in [("req-a", '{"region": "nyc1", "owner": {"pid": 4242, "host": "h"}}'),
                         ("req-b", '{"region": "ams3"}')]:
        raw.execute("INSERT INTO pending_operations (request_tag, account_id, kind, step, state,"
                    " payload, created_at, updated_at) VALUES (?, 'ib-demo-a1b2c3d4', 'connect',"
                    " 'firewall', 'pending', ?, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
                    (tag, payload))
    raw.commit()
    raw.close()
    repo = Repository.open(db_url)
    try:
        a, b = repo.get_operation("req-a"), repo.get_operation("req-b")
        assert a is not None and b is not None
        assert a.payload == {"region": "nyc1"} and a.owner is not None
        assert (a.owner.pid, a.owner.host, a.owner.run) == (4242, "h", "before-0003")
        assert b.payload == {"region": "ams3"} and b.owner is None
    finally:
        repo.close()


def test_0004_moves_account_facts_into_columns_and_keeps_history(db_url: str,
                                                                 tmp_path: Path) -> None:
    """The six facts leave custom_data for columns; the seed's own keys and every history row
    stay (a table rebuild under ON DELETE CASCADE would have emptied status_history)."""
    _upgrade_to(db_url, "0003")
    raw = sqlite3.connect(tmp_path / "ibdesk.sqlite3")
    facts = ('{"note": "seed", "price_monthly": 24, "ibeam_started": true,'
             ' "login_refused": "codes_refused", "active_since": "2026-01-02T03:04:05+00:00",'
             ' "unhealthy_since": "not a time", "ssh_host_key": "ssh-ed25519 AAAAC3Nz"}')
    for account_id, droplet, data in [("ib-demo-a1b2c3d4", 123, facts),
                                      ("ib-demo-e5f6a7b8", None, '{"login_refused": true}')]:
        raw.execute(
            "INSERT INTO accounts (id, username, environment, do_droplet_id, do_droplet_name,"
            " do_server_status, do_ip_address, do_region, custom_data, created_at, updated_at)"
            " VALUES (?, 'jdoe', 'demo', ?, 'n', 'running', NULL, 'nyc1', ?,"
            " '2026-01-01 00:00:00', '2026-01-01 00:00:00')", (account_id, droplet, data))
        raw.execute("INSERT INTO status_history (account_id, at, status, previous, reason) VALUES"
                    " (?, '2026-01-01 00:00:00', 'running', NULL, 'seed')", (account_id,))
    raw.commit()
    raw.close()
    repo = Repository.open(db_url)
    try:
        a, b = repo.get_account("ib-demo-a1b2c3d4"), repo.get_account("ib-demo-e5f6a7b8")
        assert a is not None and b is not None
        assert a.custom_data == {"note": "seed"}
        assert a.price_monthly == 24.0 and a.ibeam_started is True
        assert a.login_refused is IBeamVerdict.CODES_REFUSED
        assert a.active_since == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        assert a.unhealthy_since is None  # an unreadable time is dropped, not guessed
        assert (a.ssh_host_key, a.ssh_host_key_droplet_id) == ("ssh-ed25519 AAAAC3Nz", 123)
        assert a.host_key_pin == "ssh-ed25519 AAAAC3Nz"
        # an old `true` mark is a refused password: the guard keeps holding it
        assert b.login_refused is IBeamVerdict.PASSWORD_REFUSED and b.custom_data == {}
        assert b.ssh_host_key is None and b.ibeam_started is False
        assert len(repo.history("ib-demo-a1b2c3d4")) == 1
        assert len(repo.history("ib-demo-e5f6a7b8")) == 1
    finally:
        repo.close()


def test_0005_gives_each_account_its_own_port_in_creation_order(db_url: str,
                                                                tmp_path: Path) -> None:
    """Issue 14, point 3: the accounts made before ports were kept get 5000, 5001, … in the
    order they were made (the window's order), history kept; a second account can never
    be given the same port (a unique index, not only a check)."""
    _upgrade_to(db_url, "0004")
    raw = sqlite3.connect(tmp_path / "ibdesk.sqlite3")
    for account_id, made in [("ib-demo-bbbbbbbb", "2026-01-02 00:00:00"),
                             ("ib-demo-aaaaaaaa", "2026-01-03 00:00:00"),
                             ("ib-demo-cccccccc", "2026-01-01 00:00:00")]:
        raw.execute(
            "INSERT INTO accounts (id, username, environment, do_server_status, custom_data,"
            " created_at, updated_at) VALUES (?, 'jdoe', 'demo', 'running', '{}', ?, ?)",
            (account_id, made, made))
        raw.execute("INSERT INTO status_history (account_id, at, status, previous, reason) VALUES"
                    " (?, '2026-01-01 00:00:00', 'running', NULL, 'seed')", (account_id,))
    raw.commit()
    raw.close()
    repo = Repository.open(db_url)
    try:
        assert repo.local_ports() == {5000: "ib-demo-cccccccc", 5001: "ib-demo-bbbbbbbb",
                                      5002: "ib-demo-aaaaaaaa"}
        assert all(len(repo.history(a.id)) == 1 for a in repo.list_accounts())
        assert not any(a.keep_tunnel for a in repo.list_accounts())
        with pytest.raises(InvalidInput):  # the index itself refuses, past any check
            repo.update_account("ib-demo-aaaaaaaa", local_port=5000)
    finally:
        repo.close()


def test_0006_gives_each_existing_server_its_billing_life(db_url: str, tmp_path: Path) -> None:
    """Issue 17: this month's cost is summed from droplet lives; a server that existed
    before 0006 bills from its account's creation (the best record there is), at its
    monthly price over DigitalOcean's 672-hour cap; an account without one has none."""
    _upgrade_to(db_url, "0005")
    raw = sqlite3.connect(tmp_path / "ibdesk.sqlite3")
    raw.execute(
        "INSERT INTO accounts (id, username, environment, do_server_status, custom_data,"
        " created_at, updated_at, do_droplet_id, price_monthly, local_port, keep_tunnel)"
        " VALUES ('ib-demo-aaaaaaaa', 'jdoe', 'demo', 'running', '{}', '2026-12-01 08:00:00',"
        " '2026-12-01 08:00:00', 77, 6.0, 5000, 0)")
    raw.execute(
        "INSERT INTO accounts (id, username, environment, do_server_status, custom_data,"
        " created_at, updated_at, local_port, keep_tunnel) VALUES ('ib-demo-bbbbbbbb', 'jdoe',"
        " 'demo', 'error', '{}', '2026-12-01 08:00:00', '2026-12-01 08:00:00', 5001, 0)")
    raw.commit()
    raw.close()
    repo = Repository.open(db_url)
    try:
        from datetime import UTC, datetime

        (span,) = repo.droplet_spans(datetime(2026, 11, 1, tzinfo=UTC))
        assert (span.account_id, span.droplet_id, span.ended_at) == ("ib-demo-aaaaaaaa", 77,
                                                                     None)
        assert span.started_at == datetime(2026, 12, 1, 8, tzinfo=UTC)
        assert span.price_hourly == 6.0 / 672 and span.price_monthly == 6.0
        account = repo.require_account("ib-demo-aaaaaaaa")
        assert not account.schedule.scheduled and account.parked is None
    finally:
        repo.close()
