"""The one way into local state: accounts, their status history, pending operations.

Methods take and return domain models, never ORM rows, so that services and front ends
never see SQLAlchemy. Calls are synchronous and short; async callers run them in a
worker thread (`asyncio.to_thread`) so the event loop never waits on the disk.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Engine, Table, bindparam, delete, func, insert, select
from sqlalchemy import update as update_rows
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from sqlalchemy import CursorResult

from ibdesk.domain.errors import InvalidInput, OperationBusy, OperationLost, StoreError
from ibdesk.domain.models import (
    Account,
    DropletSpan,
    OperationOwner,
    OperationState,
    PendingOperation,
    ServerStatus,
    StatusDetail,
    StatusEvent,
)
from ibdesk.domain.schedule import Schedule
from ibdesk.store.database import WRITE, open_engine
from ibdesk.store.schema import (
    AccountRow,
    DropletSpanRow,
    LatencySampleRow,
    PendingOperationRow,
    StatusHistoryRow,
)

_ACCOUNT_FIELDS = tuple(Account.model_fields)
FIRST_LOCAL_PORT = 5000
"""Where accounts' local ports start: IBeam's own port, what programs expect first."""


@dataclass(frozen=True)
class StatusUpdate:
    """One account's result in a monitor cycle."""

    account_id: str
    status: ServerStatus
    reason: str
    at: datetime
    detail: StatusDetail | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    basis: Mapping[str, Any] = field(default_factory=dict)
    """The account facts the status was derived from, as read: when the row no longer
    holds them (a new password, a new droplet since), the result is stale and not
    written (the next look reads the row afresh)."""


def _stale(row: Any, basis: Mapping[str, Any]) -> bool:
    """Whether `row` (an AccountRow, or a plain row of its columns) no longer holds the
    facts in `basis`."""
    return any(getattr(row, name) != value for name, value in basis.items())


def _by_keys(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """`rows` grouped by the keys they hold, in first-seen order (an executemany writes
    one set of columns)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    return list(groups.values())


def _now() -> datetime:
    return datetime.now(UTC)


def _row(session: Session, account_id: str) -> AccountRow:
    """The account's row, for a write; StoreError when there is none."""
    row = session.get(AccountRow, account_id)
    if row is None:
        raise StoreError(f"There is no account {account_id}.", account_id=account_id)
    return row


def _to_account(row: AccountRow) -> Account:
    data = {name: getattr(row, name) for name in _ACCOUNT_FIELDS}
    data["custom_data"] = dict(row.custom_data or {})
    data["schedule"] = row.schedule or {}
    return Account.model_validate(data)


def _column_value(name: str, value: Any) -> Any:
    """A field's value as its column holds it (a schedule is JSON)."""
    if name == "schedule" and isinstance(value, Schedule):
        return value.model_dump(mode="json") if value.scheduled or \
            value.idle_after_minutes else None
    return value


LATENCY_SAMPLE_EVERY = timedelta(minutes=5)
"""How often a gateway's latency is kept for the report (the probes are every 30-60 s)."""


def _to_event(row: StatusHistoryRow) -> StatusEvent:
    return StatusEvent(account_id=row.account_id, at=row.at, status=ServerStatus(row.status),
                       previous=ServerStatus(row.previous) if row.previous else None,
                       reason=row.reason)


def _to_operation(row: PendingOperationRow) -> PendingOperation:
    owner = None
    if row.owner_run is not None and row.owner_pid is not None:
        owner = OperationOwner(run=row.owner_run, pid=row.owner_pid, host=row.owner_host or "",
                               process_started=row.owner_process_started)
    return PendingOperation(
        request_tag=row.request_tag, account_id=row.account_id, kind=row.kind, step=row.step,
        state=OperationState(row.state), payload=dict(row.payload or {}), error=row.error,
        owner=owner, created_at=row.created_at, updated_at=row.updated_at)


def _set_owner(row: PendingOperationRow, owner: OperationOwner | None) -> None:
    row.owner_run = owner.run if owner else None
    row.owner_pid = owner.pid if owner else None
    row.owner_host = owner.host if owner else None
    row.owner_process_started = owner.process_started if owner else None


Alive = Callable[[OperationOwner], bool]
"""Tells whether an owner's run is still going (the services know how to ask the OS)."""

_KIND_DOING = {"connect": "connecting", "delete": "deleting",
               "schedule": "being brought up or down by its schedule"}


def _lost(row: PendingOperationRow) -> OperationLost:
    if row.state == OperationState.ROLLED_BACK.value:
        why = "it was cancelled (the account is being deleted)"
    elif row.state != OperationState.PENDING.value:
        why = f"it has ended ({row.state.replace('_', ' ')})"
    else:
        why = "another ibdesk run took it over"
    return OperationLost(f"The {row.kind} of {row.account_id} stopped here: {why}. Nothing "
                         "more was created.", account_id=row.account_id,
                         request_tag=row.request_tag)


def _disk_full(exc: OperationalError) -> bool:
    """SQLite's SQLITE_FULL (13): the disk, or the file's own size limit, is full."""
    code = getattr(exc.orig, "sqlite_errorcode", None)
    return code == 13 or "database or disk is full" in str(exc.orig)


def _busy(row: PendingOperationRow, owner: OperationOwner) -> OperationBusy:
    doing = _KIND_DOING.get(row.kind, row.kind)
    if owner.pid == os.getpid() and owner.host == socket.gethostname():
        where = "in this ibdesk. Wait for it to finish (or cancel it), then try again."
    else:
        where = (f"in another ibdesk ({owner.describe()}). Wait for it to finish, or close "
                 "that ibdesk, then try again.")
    return OperationBusy(f"{row.account_id} is {doing} right now {where}",
                         account_id=row.account_id, request_tag=row.request_tag,
                         pid=owner.pid)


class Repository:
    """Accounts, history and pending operations in one SQL database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._reader = sessionmaker(engine, expire_on_commit=False)
        self._writer = sessionmaker(engine.execution_options(**WRITE), expire_on_commit=False)
        self._sampled: dict[str, datetime] = {}  # account → its last latency sample

    @classmethod
    def open(cls, url: str) -> Repository:
        """Open (and migrate) the database at `url`."""
        return cls(open_engine(url))

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with self._reader() as session, session.begin():
            yield session

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """One write transaction; a full disk is a sentence (the transaction is rolled back,
        so nothing is half-written)."""
        try:
            with self._writer() as session, session.begin():
                yield session
        except OperationalError as exc:
            if not _disk_full(exc):
                raise
            where = self.engine.url.database or "the database"
            raise StoreError(
                f"The disk holding ibdesk's database ({where}) is full, so ibdesk could not "
                "save this change and changed nothing. Free some space on it, then try "
                "again.", path=where) from None

    # ------------------------------------------------------------------ accounts
    def add_account(self, account: Account, reason: str = "Account added.", *,
                    operation: tuple[str, str, dict[str, Any]] | None = None,
                    owner: OperationOwner | None = None,
                    port_skip: Callable[[int], bool] | None = None) -> Account:
        """Insert the account and the first line of its history, and with `operation`
        (request tag, kind, payload) its pending operation owned by `owner`, all in one
        transaction: a crash can never leave an account without the operation that
        explains it."""
        now = _now()
        data = account.model_dump()
        data["schedule"] = _column_value("schedule", account.schedule)
        data["created_at"] = account.created_at or now
        row = AccountRow(**data, updated_at=now)
        try:
            with self._write() as session:
                if row.local_port is None:  # the first one no account has, in the same
                    # transaction as the insert (`port_skip`: ports a program holds)
                    row.local_port = self._free_port(session, port_skip)
                else:
                    self._refuse_taken(session, row.local_port, account.id)
                session.add(row)
                session.flush()
                session.add(StatusHistoryRow(account_id=account.id, at=row.created_at,
                                             status=account.do_server_status.value,
                                             previous=None, reason=reason))
                if operation is not None:
                    tag, kind, payload = operation
                    op_row = PendingOperationRow(
                        request_tag=tag, account_id=account.id, kind=kind, step="recorded",
                        state=OperationState.PENDING.value, payload=dict(payload),
                        created_at=now, updated_at=now)
                    _set_owner(op_row, owner)
                    session.add(op_row)
        except IntegrityError:
            raise StoreError(f"An account with id {account.id} already exists.",
                             account_id=account.id) from None
        return account.model_copy(update={"created_at": data["created_at"],
                                          "local_port": row.local_port})

    # ------------------------------------------------------------------ local ports
    @staticmethod
    def _ports(session: Session) -> dict[int, str]:
        rows = session.execute(select(AccountRow.local_port, AccountRow.id)
                               .where(AccountRow.local_port.is_not(None)))
        return {port: account_id for port, account_id in rows if port is not None}

    def _free_port(self, session: Session, skip: Callable[[int], bool] | None = None) -> int:
        taken = self._ports(session)
        port = FIRST_LOCAL_PORT
        while port in taken or (skip is not None and skip(port)):
            port += 1
            if port > 65535:
                raise InvalidInput("Every local port from 5000 up is taken.")
        return port

    def _refuse_taken(self, session: Session, port: int, account_id: str | None) -> None:
        if not 1024 <= port <= 65535:
            raise InvalidInput(f"{port} is not a port ibdesk can use: pick one from 1024 to "
                               "65535 (those below 1024 need administrator rights).")
        owner = self._ports(session).get(port)
        if owner is not None and owner != account_id:
            raise InvalidInput(
                f"localhost:{port} is already account {owner}'s: two accounts on one port "
                "would send a program to whichever tunnel opened first. Pick another port.")

    def check_local_port(self, port: int, account_id: str | None = None) -> None:
        """InvalidInput when `port` cannot be `account_id`'s (None: a new account's):
        outside 1024–65535, or another account's."""
        with self._read() as session:
            self._refuse_taken(session, port, account_id)

    def local_ports(self) -> dict[int, str]:
        """Every account's local port: port → account id."""
        with self._read() as session:
            return self._ports(session)

    def free_local_port(self, skip: Callable[[int], bool] | None = None) -> int:
        """The first port from 5000 up that no account has (nor `skip` refuses: a port
        another program listens on)."""
        with self._read() as session:
            return self._free_port(session, skip)

    def set_local_port(self, account_id: str, port: int | None = None, *,
                       skip: Callable[[int], bool] | None = None) -> Account:
        """Give the account `port` (refused when another account has it), or with None
        the first free one; checked and written in one transaction."""
        try:
            with self._write() as session:
                row = _row(session, account_id)
                if port is None:
                    if row.local_port is not None:
                        return _to_account(row)
                    port = self._free_port(session, skip)
                self._refuse_taken(session, port, account_id)
                row.local_port = port
                row.updated_at = _now()
                return _to_account(row)
        except IntegrityError:  # another writer gave it away between check and write
            raise InvalidInput(f"localhost:{port} was just given to another account. "
                               "Pick another port.") from None

    def get_account(self, account_id: str) -> Account | None:
        with self._read() as session:
            row = session.get(AccountRow, account_id)
            return _to_account(row) if row else None

    def require_account(self, account_id: str) -> Account:
        account = self.get_account(account_id)
        if account is None:
            raise StoreError(f"There is no account {account_id}. `ibdesk accounts` lists them.",
                             account_id=account_id)
        return account

    def list_accounts(self) -> list[Account]:
        with self._read() as session:
            rows = session.scalars(select(AccountRow).order_by(AccountRow.created_at,
                                                               AccountRow.id))
            return [_to_account(row) for row in rows]

    def list_accounts_with_details(self) -> list[tuple[Account, StatusDetail | None]]:
        """Every account and its last status detail, in one query (the window's table)."""
        # Plain rows, not ORM objects: a thousand accounts load in a third of the time
        # (the window's start-up waits for this).
        table = AccountRow.__table__
        with self._read() as session:
            rows = session.execute(select(table).order_by(table.c.created_at, table.c.id))
            return [(_to_account(row), StatusDetail.model_validate(row.status_detail)  # type: ignore[arg-type]
                     if row.status_detail else None) for row in rows]

    def watched_account_ids(self) -> list[str]:
        """The ids of the accounts with a droplet, oldest first: what the monitor reads
        every cycle to see who is there (a thousand ids cost a fraction of a thousand
        accounts), before reading whole accounts only for those due (`accounts`)."""
        with self._read() as session:
            return list(session.scalars(
                select(AccountRow.id).where(AccountRow.do_droplet_id.is_not(None))
                .order_by(AccountRow.created_at, AccountRow.id)))

    def accounts(self, ids: Sequence[str]) -> list[Account]:
        """Those of `ids` that exist (oldest first), read as plain rows."""
        if not ids:
            return []
        table = AccountRow.__table__
        with self._read() as session:
            rows = session.execute(select(table).where(table.c.id.in_(list(ids)))
                                   .order_by(table.c.created_at, table.c.id))
            return [_to_account(row) for row in rows]  # type: ignore[arg-type]

    def count_accounts(self) -> int:
        with self._read() as session:
            return int(session.scalar(select(func.count()).select_from(AccountRow)) or 0)

    def droplet_names(self) -> list[str]:
        with self._read() as session:
            return [n for n in session.scalars(select(AccountRow.do_droplet_name)) if n]

    def update_account(self, /, account_id: str, **changes: Any) -> Account:
        unknown = set(changes) - set(_ACCOUNT_FIELDS) - {"status_detail"}
        if unknown:
            raise ValueError(f"not account fields: {sorted(unknown)}")
        validated = self.require_account(account_id).model_copy(update=changes)
        Account.model_validate(validated.model_dump())  # reject invalid values early
        try:
            with self._write() as session:
                row = _row(session, account_id)
                for key, value in changes.items():
                    setattr(row, key, _column_value(key, value))
                row.updated_at = _now()
                return _to_account(row)
        except IntegrityError:  # the only unique column an update can collide on
            raise InvalidInput(f"localhost:{changes.get('local_port')} is another account's "
                               "port. Pick another port.") from None

    def pin_host_key(self, account_id: str, droplet_id: int, host_key: str) -> str:
        """Pin `host_key` for `droplet_id` unless a pin for that droplet exists (two first
        connections at once: the first one's key wins); returns the pin now on record.
        Only this column pair is written."""
        with self._write() as session:
            row = _row(session, account_id)
            if row.ssh_host_key and row.ssh_host_key_droplet_id == droplet_id:
                return row.ssh_host_key
            row.ssh_host_key = host_key
            row.ssh_host_key_droplet_id = droplet_id
            row.updated_at = _now()
            return host_key

    def record_droplet(self, account_id: str, *, droplet_id: int, name: str, size: str | None,
                       image: str | None, price_monthly: float | None,
                       price_hourly: float | None = None) -> Account:
        """The account's server is this droplet. A different droplet than before starts
        afresh: IBeam has not been started on it, and it has no active-since time yet (its
        host-key pin is per droplet already)."""
        with self._write() as session:
            row = _row(session, account_id)
            now = _now()
            open_spans = list(session.scalars(select(DropletSpanRow).where(
                DropletSpanRow.account_id == account_id, DropletSpanRow.ended_at.is_(None))))
            for span in open_spans:
                if span.droplet_id != droplet_id:
                    span.ended_at = now
            if not any(s.droplet_id == droplet_id for s in open_spans):
                monthly = price_monthly or 0.0
                session.add(DropletSpanRow(
                    account_id=account_id, droplet_id=droplet_id, started_at=now,
                    price_monthly=monthly,
                    price_hourly=price_hourly if price_hourly is not None else monthly / 672))
            if row.do_droplet_id != droplet_id:
                row.ibeam_started = False
                row.active_since = None
                row.unhealthy_since = None
                row.do_ip_address = None
            row.do_droplet_id = droplet_id
            row.do_droplet_name = name
            row.do_size = size
            row.do_image = image
            row.price_monthly = price_monthly
            row.price_hourly = price_hourly
            row.parked = None  # a droplet again (a rebuild made it)
            row.updated_at = _now()
            return _to_account(row)

    def end_droplet_spans(self, account_id: str, at: datetime | None = None) -> int:
        """The account's droplets are destroyed: their billing ends (`at`, or now)."""
        with self._write() as session:
            spans = list(session.scalars(select(DropletSpanRow).where(
                DropletSpanRow.account_id == account_id, DropletSpanRow.ended_at.is_(None))))
            for span in spans:
                span.ended_at = at or _now()
            return len(spans)

    def droplet_spans(self, since: datetime) -> list[DropletSpan]:
        """Every droplet life that overlaps [since, now), deleted accounts' too."""
        with self._read() as session:
            rows = session.scalars(select(DropletSpanRow).where(
                (DropletSpanRow.ended_at.is_(None)) | (DropletSpanRow.ended_at > since))
                .order_by(DropletSpanRow.started_at))
            return [DropletSpan(account_id=r.account_id, droplet_id=r.droplet_id,
                                started_at=r.started_at, ended_at=r.ended_at,
                                price_hourly=r.price_hourly, price_monthly=r.price_monthly)
                    for r in rows]

    def add_droplet_span(self, span: DropletSpan) -> None:
        """A span as it was (tests and imports; the app records them with the droplets)."""
        with self._write() as session:
            session.add(DropletSpanRow(**span.model_dump()))

    def delete_account(self, account_id: str) -> bool:
        with self._write() as session:
            for span in session.scalars(select(DropletSpanRow).where(
                    DropletSpanRow.account_id == account_id,
                    DropletSpanRow.ended_at.is_(None))):
                span.ended_at = _now()
            # a DELETE's result is a CursorResult, which SQLAlchemy's types do not say
            result = cast("CursorResult[Any]", session.execute(
                delete(AccountRow).where(AccountRow.id == account_id)))
            return bool(result.rowcount)

    # ------------------------------------------------------------------ status
    def record_status(
        self,
        /,
        account_id: str,
        status: ServerStatus,
        reason: str,
        *,
        at: datetime | None = None,
        detail: StatusDetail | None = None,
        basis: Mapping[str, Any] | None = None,
        **droplet_fields: Any,
    ) -> StatusEvent | None:
        """Save the latest check; append to the history only when the status changed.

        Returns the new history event, or None when the status stayed the same or the
        check's `basis` (see StatusUpdate) is no longer what the row holds.
        """
        at = at or _now()
        with self._write() as session:
            row = _row(session, account_id)
            if basis and _stale(row, basis):
                return None
            previous = ServerStatus(row.do_server_status) if row.do_server_status else None
            for key, value in droplet_fields.items():
                if key not in _ACCOUNT_FIELDS:
                    raise ValueError(f"not an account field: {key}")
                setattr(row, key, value)
            row.do_last_status_check = at
            row.updated_at = _now()
            if detail is not None:
                row.status_detail = detail.model_dump(mode="json")
            if previous is status:
                return None
            row.do_server_status = status.value
            session.add(StatusHistoryRow(account_id=account_id, at=at, status=status.value,
                                         previous=previous.value if previous else None,
                                         reason=reason))
            return StatusEvent(account_id=account_id, at=at, status=status,
                               previous=previous, reason=reason)

    def add_note(self, account_id: str, reason: str, *, at: datetime | None = None
                 ) -> StatusEvent:
        """A line in the history that changes no status (a missed schedule window)."""
        at = at or _now()
        with self._write() as session:
            row = _row(session, account_id)
            status = ServerStatus(row.do_server_status)
            session.add(StatusHistoryRow(account_id=account_id, at=at, status=status.value,
                                         previous=status.value, reason=reason))
        return StatusEvent(account_id=account_id, at=at, status=status, previous=status,
                           reason=reason)

    def record_statuses(self, updates: Sequence[StatusUpdate],
                        stale: list[str] | None = None) -> list[StatusEvent]:
        """Many `record_status` calls in one transaction (a monitor cycle). Updates whose
        basis is out of date are skipped; their account ids are added to `stale`.

        Every look writes its row (the check's time and detail), so a cycle is a
        thousand row updates: the rows are read as plain columns and written with one
        executemany UPDATE by id, not loaded as ORM objects and flushed one by
        one (120 ms of CPU for 1,000 unchanged rows, a tenth of the monitor's per cycle);
        only a status change adds a history line."""
        stale = [] if stale is None else stale
        events: list[StatusEvent] = []
        if not updates:
            return events
        table = cast(Table, AccountRow.__table__)
        names = sorted({name for update in updates for name in update.basis})
        with self._write() as session:
            rows = {row.id: row for row in session.execute(
                select(table.c.id, table.c.do_server_status, *(table.c[n] for n in names))
                .where(table.c.id.in_([u.account_id for u in updates])))}
            writes: list[dict[str, Any]] = []
            samples: list[dict[str, Any]] = []
            for update in updates:
                row = rows.get(update.account_id)
                if row is None:
                    continue  # deleted meanwhile
                if _stale(row, update.basis):
                    stale.append(update.account_id)
                    continue
                values: dict[str, Any] = {**update.fields, "row_id": row.id,
                                          "do_last_status_check": update.at,
                                          "updated_at": update.at}
                if update.detail is not None:
                    values["status_detail"] = update.detail.model_dump(mode="json")
                    sample = self._sample(row.id, update.at, update.detail.latency_ms)
                    if sample is not None:
                        samples.append(sample)
                previous = ServerStatus(row.do_server_status)
                if previous is not update.status:
                    values["do_server_status"] = update.status.value
                    session.add(StatusHistoryRow(account_id=row.id, at=update.at,
                                                 status=update.status.value,
                                                 previous=previous.value,
                                                 reason=update.reason))
                    events.append(StatusEvent(account_id=row.id, at=update.at,
                                              status=update.status, previous=previous,
                                              reason=update.reason))
                writes.append(values)
            by_id = update_rows(table).where(table.c.id == bindparam("row_id"))
            for group in _by_keys(writes):  # one executemany per set of columns written
                session.execute(by_id, group)  # SET: the columns each dict names
            if samples:
                session.execute(insert(LatencySampleRow), samples)
        return events

    def _sample(self, account_id: str, at: datetime, latency_ms: float | None
                ) -> dict[str, Any] | None:
        """A latency sample's row, when one is due for the account (every few minutes)."""
        if latency_ms is None:
            return None
        last = self._sampled.get(account_id)
        if last is not None and at - last < LATENCY_SAMPLE_EVERY:
            return None
        self._sampled[account_id] = at
        return {"account_id": account_id, "at": at, "ms": latency_ms}

    def latency_samples(self, account_id: str, since: datetime) -> list[tuple[datetime, float]]:
        with self._read() as session:
            rows = session.execute(select(LatencySampleRow.at, LatencySampleRow.ms).where(
                LatencySampleRow.account_id == account_id, LatencySampleRow.at >= since)
                .order_by(LatencySampleRow.at))
            return [(at, ms) for at, ms in rows]

    def history_between(self, account_id: str, since: datetime) -> tuple[
            StatusEvent | None, list[StatusEvent]]:
        """The last event before `since` (the status the period starts in), and every
        event from `since` on, oldest first: what the report reads."""
        with self._read() as session:
            before = session.scalars(select(StatusHistoryRow).where(
                StatusHistoryRow.account_id == account_id, StatusHistoryRow.at < since)
                .order_by(StatusHistoryRow.at.desc(), StatusHistoryRow.id.desc())
                .limit(1)).first()
            rows = list(session.scalars(select(StatusHistoryRow).where(
                StatusHistoryRow.account_id == account_id, StatusHistoryRow.at >= since)
                .order_by(StatusHistoryRow.at, StatusHistoryRow.id)))
        return (_to_event(before) if before else None), [_to_event(r) for r in rows]

    def status_detail(self, account_id: str) -> StatusDetail | None:
        with self._read() as session:
            row = session.get(AccountRow, account_id)
            if row is None or not row.status_detail:
                return None
            return StatusDetail.model_validate(row.status_detail)

    def history(self, account_id: str, limit: int | None = None) -> list[StatusEvent]:
        """Oldest first; with `limit`, the newest `limit` events."""
        with self._read() as session:
            query = (select(StatusHistoryRow).where(StatusHistoryRow.account_id == account_id)
                     .order_by(StatusHistoryRow.at.desc(), StatusHistoryRow.id.desc()))
            if limit is not None:
                query = query.limit(limit)
            rows = list(session.scalars(query))
        return [_to_event(r) for r in reversed(rows)]

    # ------------------------------------------------------------------ pending operations
    def begin_operation(self, request_tag: str, account_id: str, kind: str,
                        payload: dict[str, Any] | None = None, *,
                        owner: OperationOwner | None = None,
                        supersede: Alive | None = None) -> PendingOperation:
        """Record a new pending operation owned by `owner`.

        With `supersede` (a delete), every other unfinished operation of the account is
        taken over and rolled back in the same transaction, unless one of them has a live
        owner: then OperationBusy, and nothing is recorded. One transaction is the point:
        a connect resumed at the same moment either sees the rollback or makes this fail.
        """
        now = _now()
        row = PendingOperationRow(request_tag=request_tag, account_id=account_id, kind=kind,
                                  step="recorded", state=OperationState.PENDING.value,
                                  payload=dict(payload or {}), created_at=now, updated_at=now)
        _set_owner(row, owner)
        try:
            with self._write() as session:
                if supersede is not None:
                    others = list(session.scalars(select(PendingOperationRow).where(
                        PendingOperationRow.account_id == account_id,
                        PendingOperationRow.state.in_([OperationState.PENDING.value,
                                                       OperationState.FAILED.value]))))
                    for other in others:
                        current = _to_operation(other).owner
                        if (other.state == OperationState.PENDING.value and current is not None
                                and supersede(current)):
                            raise _busy(other, current)
                    for other in others:
                        other.state = OperationState.ROLLED_BACK.value
                        other.error = f"Superseded by {kind} {request_tag}."
                        _set_owner(other, None)
                        other.updated_at = now
                session.add(row)
        except IntegrityError:
            raise StoreError(f"Operation {request_tag} is already recorded.",
                             request_tag=request_tag) from None
        return _to_operation(row)

    def claim_operation(self, request_tag: str, claimant: OperationOwner, *, alive: Alive,
                        states: Sequence[OperationState] = (OperationState.PENDING,
                                                            OperationState.FAILED),
                        ) -> PendingOperation:
        """Compare-and-set the owner of an operation in one write transaction: it becomes
        `claimant`'s (and pending) unless another live run owns it (OperationBusy) or it
        has ended in a state not in `states` (OperationLost: a delete rolled it back)."""
        with self._write() as session:
            row = session.get(PendingOperationRow, request_tag)
            if row is None:
                raise StoreError(f"No operation {request_tag} is recorded.",
                                 request_tag=request_tag)
            if row.state not in {OperationState(s).value for s in states}:
                raise OperationLost(
                    f"The {row.kind} of {row.account_id} has already ended "
                    f"({row.state.replace('_', ' ')}); nothing to carry on.",
                    account_id=row.account_id, request_tag=request_tag)
            current = _to_operation(row).owner
            if (current is not None and current.run != claimant.run
                    and row.state == OperationState.PENDING.value and alive(current)):
                raise _busy(row, current)
            _set_owner(row, claimant)
            row.state = OperationState.PENDING.value
            row.updated_at = _now()
            return _to_operation(row)

    def release_operation(self, request_tag: str, claimant: OperationOwner) -> bool:
        """Clear the owner if it is still `claimant` (the run ended, however it ended)."""
        with self._write() as session:
            row = session.get(PendingOperationRow, request_tag)
            if row is None or row.owner_run != claimant.run:
                return False
            _set_owner(row, None)
            row.updated_at = _now()
            return True

    def update_operation(self, /, request_tag: str, *, step: str | None = None,
                         state: OperationState | None = None, error: str | None = None,
                         as_owner: OperationOwner | None = None,
                         **payload: Any) -> PendingOperation:
        """Change an operation; with `as_owner`, only while that run still owns it and it
        is still pending (else OperationLost, and nothing is changed): how a connect finds
        out, at its next step, that a delete or another run took its operation."""
        with self._write() as session:
            row = session.get(PendingOperationRow, request_tag)
            if row is None:
                raise StoreError(f"No operation {request_tag} is recorded.",
                                 request_tag=request_tag)
            if as_owner is not None and (row.owner_run != as_owner.run
                                         or row.state != OperationState.PENDING.value):
                raise _lost(row)
            if step is not None:
                row.step = step
            if state is not None:
                row.state = OperationState(state).value
            if error is not None:
                row.error = error
            if payload:
                row.payload = {**(row.payload or {}), **payload}
            row.updated_at = _now()
            return _to_operation(row)

    def get_operation(self, request_tag: str) -> PendingOperation | None:
        with self._read() as session:
            row = session.get(PendingOperationRow, request_tag)
            return _to_operation(row) if row else None

    def operations(self, *, states: Sequence[OperationState] = (OperationState.PENDING,),
                   account_id: str | None = None) -> list[PendingOperation]:
        with self._read() as session:
            query = select(PendingOperationRow).where(
                PendingOperationRow.state.in_([OperationState(s).value for s in states]))
            if account_id is not None:
                query = query.where(PendingOperationRow.account_id == account_id)
            rows = session.scalars(query.order_by(PendingOperationRow.created_at))
            return [_to_operation(row) for row in rows]


__all__ = ["Repository", "StatusUpdate"]
