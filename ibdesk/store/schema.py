"""The SQLite tables, as SQLAlchemy 2 typed ORM classes.

Column names of `accounts` keep the seed's (`do_droplet_id`, `do_server_status`, …) so
that an old export or a support person's SQL still reads the same. Migrations in
`migrations/versions/` create these tables; this module must match the newest one
(tests/store/test_migrations.py compares them).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: SQLite has no time zones of its own."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use datetime.now(UTC)")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON}


class AccountRow(Base):
    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    environment: Mapped[str] = mapped_column(String(8))
    two_fa_handler: Mapped[str | None] = mapped_column(String(32))
    do_droplet_id: Mapped[int | None] = mapped_column(Integer, index=True)
    do_droplet_name: Mapped[str | None] = mapped_column(String(255))
    do_server_status: Mapped[str] = mapped_column(String(16), default="provisioning")
    do_ip_address: Mapped[str | None] = mapped_column(String(64))
    do_region: Mapped[str | None] = mapped_column(String(16))
    do_size: Mapped[str | None] = mapped_column(String(64))
    do_image: Mapped[str | None] = mapped_column(String(64))
    do_last_status_check: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status_detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    custom_data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    price_monthly: Mapped[float | None] = mapped_column(Float)
    ibeam_started: Mapped[bool] = mapped_column(Boolean, default=False)
    login_refused: Mapped[str | None] = mapped_column(String(32))
    active_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unhealthy_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ssh_host_key: Mapped[str | None] = mapped_column(Text)
    ssh_host_key_droplet_id: Mapped[int | None] = mapped_column(Integer)
    local_port: Mapped[int | None] = mapped_column(Integer)
    keep_tunnel: Mapped[bool] = mapped_column(Boolean, default=False)
    schedule: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    price_hourly: Mapped[float | None] = mapped_column(Float)
    parked: Mapped[str | None] = mapped_column(String(16))
    parked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    tunnel_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_accounts_local_port", "local_port", unique=True),)


class StatusHistoryRow(Base):
    __tablename__ = "status_history"
    __table_args__ = (Index("ix_status_history_account_at", "account_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("accounts.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    previous: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)


class LatencySampleRow(Base):
    """The gateway's latency now and then (every few minutes per account, not each probe:
    the report's chart, not a time-series database)."""

    __tablename__ = "latency_samples"
    __table_args__ = (Index("ix_latency_samples_account_at", "account_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("accounts.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    ms: Mapped[float] = mapped_column(Float)


class DropletSpanRow(Base):
    """One droplet's life under an account: what billing counts (no foreign key: a deleted
    account's droplets were billed too, and this month's cost must still say so)."""

    __tablename__ = "droplet_spans"
    __table_args__ = (Index("ix_droplet_spans_started", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(String(32), index=True)
    droplet_id: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    price_hourly: Mapped[float] = mapped_column(Float)
    price_monthly: Mapped[float] = mapped_column(Float)


class PendingOperationRow(Base):
    __tablename__ = "pending_operations"

    request_tag: Mapped[str] = mapped_column(String(128), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    step: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    owner_run: Mapped[str | None] = mapped_column(String(64))
    owner_pid: Mapped[int | None] = mapped_column(Integer)
    owner_host: Mapped[str | None] = mapped_column(String(255))
    owner_process_started: Mapped[float | None] = mapped_column(Float)


__all__ = ["AccountRow", "Base", "DropletSpanRow", "LatencySampleRow", "PendingOperationRow",
           "StatusHistoryRow", "UTCDateTime"]
