from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ibdesk.domain.enums import OperationState, ServerStatus
from ibdesk.domain.errors import OperationBusy, OperationLost, StoreError
from ibdesk.domain.models import Account, OperationOwner, StatusDetail, new_account_id
from ibdesk.store import Repository


def make(env: str = "demo", username: str = "jdoe", **kw: object) -> Account:
    return Account(id=new_account_id(env), username=username, environment=env, **kw)


def test_account_round_trip(repo: Repository) -> None:
    account = make(do_region="ams3", custom_data={"k": [1, 2]})
    saved = repo.add_account(account)
    assert saved.created_at is not None and saved.created_at.tzinfo is UTC
    assert repo.get_account(account.id) == saved
    assert repo.list_accounts() == [saved]
    assert repo.count_accounts() == 1
    assert repo.get_account("ib-demo-00000000") is None


def test_duplicate_account_is_a_store_error(repo: Repository) -> None:
    account = repo.add_account(make())
    with pytest.raises(StoreError, match="already exists"):
        repo.add_account(account)


def test_update_and_delete(repo: Repository) -> None:
    account = repo.add_account(make())
    updated = repo.update_account(account.id, do_droplet_id=42,
                                  do_droplet_name="jdoe-ib-demo-1")
    assert updated.do_droplet_id == 42
    assert repo.droplet_names() == ["jdoe-ib-demo-1"]
    with pytest.raises(ValueError):
        repo.update_account(account.id, password="nope")
    with pytest.raises(StoreError, match="no account"):
        repo.update_account("ib-demo-00000000", do_droplet_id=1)
    assert repo.delete_account(account.id) is True
    assert repo.delete_account(account.id) is False
    assert repo.history(account.id) == []  # history goes with the account


def test_history_records_only_changes(repo: Repository) -> None:
    account = repo.add_account(make(), reason="Connect started.")
    t0 = datetime.now(UTC) + timedelta(hours=1)
    assert repo.record_status(account.id, ServerStatus.PROVISIONING, "still", at=t0) is None
    event = repo.record_status(account.id, ServerStatus.INITIALIZING, "booted",
                               at=t0 + timedelta(minutes=1), do_ip_address="203.0.113.9")
    assert event is not None and event.previous is ServerStatus.PROVISIONING
    assert repo.record_status(account.id, ServerStatus.INITIALIZING, "same",
                              at=t0 + timedelta(minutes=2)) is None
    repo.record_status(account.id, ServerStatus.RUNNING, "logged in",
                       at=t0 + timedelta(minutes=3),
                       detail=StatusDetail(reason="logged in", authenticated=True))
    history = repo.history(account.id)
    assert [(e.status, e.reason) for e in history] == [
        (ServerStatus.PROVISIONING, "Connect started."),
        (ServerStatus.INITIALIZING, "booted"),
        (ServerStatus.RUNNING, "logged in")]
    assert history[0].previous is None
    assert [e.reason for e in repo.history(account.id, limit=2)] == ["booted", "logged in"]
    current = repo.require_account(account.id)
    assert current.do_server_status is ServerStatus.RUNNING
    assert current.do_ip_address == "203.0.113.9"
    assert current.do_last_status_check == t0 + timedelta(minutes=3)
    assert repo.status_detail(account.id).authenticated is True  # type: ignore[union-attr]


def test_naive_datetimes_are_refused(repo: Repository) -> None:
    account = repo.add_account(make())
    with pytest.raises(Exception, match="naive"):
        repo.record_status(account.id, ServerStatus.RUNNING, "x", at=datetime(2026, 1, 1))


def test_pending_operations(repo: Repository) -> None:
    op = repo.begin_operation("req-1", "ib-demo-a1b2c3d4", "connect", {"region": "nyc1"})
    assert op.state is OperationState.PENDING and op.step == "recorded"
    with pytest.raises(StoreError, match="already recorded"):
        repo.begin_operation("req-1", "ib-demo-a1b2c3d4", "connect")
    repo.update_operation("req-1", step="droplet_created", droplet_id=7)
    repo.begin_operation("req-2", "ib-paper-a1b2c3d4", "delete")
    assert [o.request_tag for o in repo.operations()] == ["req-1", "req-2"]
    assert [o.request_tag for o in repo.operations(account_id="ib-paper-a1b2c3d4")] == ["req-2"]
    done = repo.update_operation("req-1", state=OperationState.DONE)
    assert done.payload == {"region": "nyc1", "droplet_id": 7}
    assert done.step == "droplet_created"
    assert [o.request_tag for o in repo.operations()] == ["req-2"]
    assert repo.get_operation("req-1") == done
    repo.update_operation("req-2", state=OperationState.FAILED, error="quota")
    assert repo.operations(states=[OperationState.FAILED])[0].error == "quota"
    with pytest.raises(StoreError):
        repo.update_operation("nope", step="x")


def _owner(run: str, pid: int = 1) -> OperationOwner:
    return OperationOwner(run=run, pid=pid, host="here")


def test_an_operation_is_claimed_by_compare_and_set(repo: Repository) -> None:
    first, second = _owner("first"), _owner("second")
    repo.begin_operation("req-1", "ib-demo-a1b2c3d4", "connect", owner=first)
    with pytest.raises(OperationBusy, match="is connecting right now"):
        repo.claim_operation("req-1", second, alive=lambda o: True)
    assert repo.get_operation("req-1").owner == first  # type: ignore[union-attr]
    claimed = repo.claim_operation("req-1", second, alive=lambda o: False)  # first is dead
    assert claimed.owner == second
    with pytest.raises(OperationLost, match="another ibdesk run took it over"):
        repo.update_operation("req-1", step="droplet", as_owner=first)  # nothing changed
    assert repo.get_operation("req-1").step == "recorded"  # type: ignore[union-attr]
    assert not repo.release_operation("req-1", first)  # only the owner releases
    assert repo.release_operation("req-1", second)
    assert repo.get_operation("req-1").owner is None  # type: ignore[union-attr]


def test_a_failed_operation_is_claimed_back_to_pending(repo: Repository) -> None:
    repo.begin_operation("req-1", "ib-demo-a1b2c3d4", "connect", owner=_owner("a"))
    repo.update_operation("req-1", state=OperationState.FAILED, error="x")
    claimed = repo.claim_operation("req-1", _owner("b"), alive=lambda o: True)
    assert claimed.state is OperationState.PENDING  # a failed op has no live run
    repo.update_operation("req-1", state=OperationState.DONE)
    with pytest.raises(OperationLost, match="already ended"):
        repo.claim_operation("req-1", _owner("c"), alive=lambda o: False)


def test_a_delete_supersedes_dead_operations_and_refuses_live_ones(repo: Repository) -> None:
    repo.begin_operation("req-c", "ib-demo-a1b2c3d4", "connect", owner=_owner("c"))
    with pytest.raises(OperationBusy):
        repo.begin_operation("del-1", "ib-demo-a1b2c3d4", "delete", owner=_owner("d"),
                             supersede=lambda o: True)
    assert repo.get_operation("del-1") is None  # nothing recorded
    repo.begin_operation("del-2", "ib-demo-a1b2c3d4", "delete", owner=_owner("d"),
                         supersede=lambda o: False)
    connect = repo.get_operation("req-c")
    assert connect is not None and connect.state is OperationState.ROLLED_BACK
    assert connect.owner is None and "del-2" in (connect.error or "")
    with pytest.raises(OperationLost, match="cancelled"):
        repo.update_operation("req-c", step="droplet", as_owner=_owner("c"))


def test_a_full_disk_is_a_sentence_and_changes_nothing(repo: Repository) -> None:
    """SQLite's "database or disk is full" (SQLITE_FULL), made real by capping the file's
    size (`max_page_count`): the same error a full disk gives."""
    from sqlalchemy import event

    kept = repo.add_account(Account(id=new_account_id("demo"), username="kept",
                                    environment="demo"))
    with repo.engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar()

    @event.listens_for(repo.engine, "connect")
    def _cap(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        dbapi_connection.execute(f"PRAGMA max_page_count = {int(pages or 1) + 1}")

    repo.engine.dispose()  # new connections get the cap
    with pytest.raises(StoreError, match="is full, so ibdesk could not save") as caught:
        for i in range(500):
            repo.add_account(Account(id=new_account_id("paper"), username=f"user{i}",
                                     environment="paper"), "x" * 2000)
    assert "Traceback" not in str(caught.value) and caught.value.__cause__ is None
    assert repo.require_account(kept.id).username == "kept"  # nothing lost


def test_each_account_gets_its_own_port_the_first_free_from_5000(repo: Repository) -> None:
    """Issue 14, point 3: given at insert, in the same transaction; never another's."""
    from ibdesk.domain.errors import InvalidInput

    a = repo.add_account(make())
    b = repo.add_account(make(username="other"))
    assert (a.local_port, b.local_port) == (5000, 5001)
    assert repo.require_account(b.id).local_port == 5001
    c = repo.add_account(make(username="third"), port_skip=lambda port: port == 5002)
    assert c.local_port == 5003  # 5002 is held by a program here
    with pytest.raises(InvalidInput, match=f"already account {a.id}'s"):
        repo.set_local_port(c.id, 5000)
    with pytest.raises(InvalidInput, match=f"already account {a.id}'s"):
        repo.add_account(make(username="fourth", local_port=5000))
    with pytest.raises(InvalidInput, match="1024 to 65535"):
        repo.set_local_port(c.id, 80)
    assert repo.set_local_port(c.id, 6000).local_port == 6000
    repo.delete_account(a.id)
    assert repo.free_local_port() == 5000
    assert repo.local_ports() == {5001: b.id, 6000: c.id}


def test_a_cycle_of_statuses_is_written_in_one_batch(repo: Repository) -> None:
    """record_statuses (the monitor's cycle): each row gets its own fields, the check's
    time and detail; only a change makes a history line; a stale look and a deleted
    account are skipped; latency is sampled every few minutes, not every look."""
    from ibdesk.store import StatusUpdate

    a, b, c, gone = (repo.add_account(make(username=f"u{i}", do_droplet_id=i + 1))
                     for i in range(4))
    repo.delete_account(gone.id)
    t0 = datetime.now(UTC) + timedelta(hours=1)

    def look(account: Account, status: ServerStatus, at: datetime, ms: float,
             **fields: object) -> StatusUpdate:
        return StatusUpdate(account.id, status, f"{status.value} seen", at,
                            StatusDetail(reason=f"{status.value} seen", latency_ms=ms),
                            dict(fields), {"do_droplet_id": account.do_droplet_id})

    stale: list[str] = []
    stale_look = look(c, ServerStatus.RUNNING, t0, 5.0)
    stale_look.basis["do_droplet_id"] = 99  # a new droplet was recorded meanwhile
    events = repo.record_statuses([
        look(a, ServerStatus.RUNNING, t0, 40.0, do_ip_address="203.0.113.1"),
        look(b, ServerStatus.PROVISIONING, t0, 50.0),  # unchanged (the default)
        stale_look, look(gone, ServerStatus.RUNNING, t0, 1.0)], stale)
    assert stale == [c.id]
    assert [(e.account_id, e.previous, e.status) for e in events] == [
        (a.id, ServerStatus.PROVISIONING, ServerStatus.RUNNING)]
    now_a, now_b, now_c = (repo.require_account(x.id) for x in (a, b, c))
    assert (now_a.do_server_status, now_a.do_ip_address) == (ServerStatus.RUNNING,
                                                             "203.0.113.1")
    assert now_a.do_last_status_check == t0 == now_b.do_last_status_check
    assert now_b.do_ip_address is None and now_c.do_last_status_check is None
    assert repo.status_detail(b.id) == StatusDetail(reason="provisioning seen",
                                                    latency_ms=50.0)
    assert [h.reason for h in repo.history(a.id)][-1] == "running seen"
    assert len(repo.history(b.id)) == 1  # the account's first line only
    later = t0 + timedelta(minutes=1)
    repo.record_statuses([look(a, ServerStatus.RUNNING, later, 41.0),
                          look(b, ServerStatus.PROVISIONING, t0 + timedelta(minutes=6), 51.0)])
    assert repo.require_account(a.id).do_last_status_check == later
    assert [ms for _, ms in repo.latency_samples(a.id, t0)] == [40.0]  # a minute: not yet
    assert [ms for _, ms in repo.latency_samples(b.id, t0)] == [50.0, 51.0]
