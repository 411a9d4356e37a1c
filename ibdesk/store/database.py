"""Opening the local database: SQLite in WAL mode, migrated at start-up.

Why the care:

* The window and the CLI may write at the same time. WAL lets readers run beside one
  writer; a busy timeout makes a second writer wait instead of failing; and every
  write transaction starts with `BEGIN IMMEDIATE`, so it takes the write lock up front
  and can never fail half-way with "database is locked" when upgrading a read lock.
* A database written by a newer ibdesk, or a file that is not a database, is reported
  with its path and left exactly as it is: ibdesk never "repairs" a user's data by
  overwriting it.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DatabaseError, OperationalError

from ibdesk.domain.errors import DatabaseCorrupt, DatabaseTooNew, StoreError
from ibdesk.private_files import create_private
from ibdesk.store.revision import SCHEMA_HEAD

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)
# SCHEMA_HEAD (store/revision.py): the newest migration; a database already there opens
# without loading Alembic (a third of the window's start-up).

BUSY_TIMEOUT_MS = 30_000
WRITE = {"ibdesk_write": True}
"""Execution options of a connection that will write (BEGIN IMMEDIATE)."""


def _alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "ibdesk.store:migrations")
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def _sqlite_path(url: str) -> Path | None:
    prefix = "sqlite:///"
    if url.startswith(prefix) and url[len(prefix):] not in ("", ":memory:"):
        return Path(url[len(prefix):])
    return None


def create_store_engine(url: str) -> Engine:
    """An engine with ibdesk's SQLite settings (other URLs are used as they are)."""
    path = _sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        create_private(path)  # SQLite gives its -wal and -shm files this file's mode
    is_sqlite = url.startswith("sqlite")
    kwargs: dict[str, Any] = {}
    if is_sqlite:
        kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
    engine = create_engine(url, **kwargs)
    if is_sqlite:
        _install_sqlite_hooks(engine, in_memory=path is None)
    return engine


def _install_sqlite_hooks(engine: Engine, *, in_memory: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        # Take transaction control from pysqlite so that BEGIN is ours (see "begin").
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if not in_memory:
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("ibdesk_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _describe(url: str) -> str:
    path = _sqlite_path(url)
    return str(path) if path is not None else url.split("@")[-1]


def migrate(engine: Engine) -> str:
    """Bring the schema to the newest revision; returns it.

    Raises DatabaseTooNew when the file carries a revision this ibdesk does not know,
    DatabaseCorrupt when it is not a database; the file is left untouched in both cases.
    """
    where = _describe(str(engine.url.render_as_string(hide_password=True)))
    if _at_head(engine):
        return SCHEMA_HEAD
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config())
    head = script.get_current_head()
    try:
        with engine.connect().execution_options(**WRITE) as conn:
            sqlite = engine.dialect.name == "sqlite"
            if sqlite:  # a migration that rebuilds a table must not cascade-delete rows
                conn.connection.dbapi_connection.execute("PRAGMA foreign_keys = OFF")  # type: ignore[union-attr]
            try:
                with conn.begin():
                    current = MigrationContext.configure(conn).get_current_revision()
                    if current is not None and current not in {r.revision for r in
                                                               script.walk_revisions()}:
                        raise DatabaseTooNew(
                            f"The database {where} was written by a newer version of ibdesk "
                            f"(schema {current}; this version knows up to {head}). Update ibdesk, "
                            "or point IBDESK_HOME at another folder. The file was not changed.",
                            path=where, revision=current)
                    if current != head:
                        if current is None and _has_foreign_tables(conn):
                            raise StoreError(
                                f"{where} holds tables that are not ibdesk's. ibdesk will not "
                                "change it; choose another data folder (IBDESK_HOME).", path=where)
                        log.info("migrating %s from %s to %s", where, current, head)
                        config = _alembic_config()
                        config.attributes["connection"] = conn
                        command.upgrade(config, "head")
            finally:
                if sqlite:
                    conn.connection.dbapi_connection.execute("PRAGMA foreign_keys = ON")  # type: ignore[union-attr]
        return head or ""
    except DatabaseError as exc:
        if _is_not_a_database(exc):
            raise DatabaseCorrupt(
                f"The database file {where} is damaged or is not an ibdesk database. ibdesk "
                "left it as it is: move it away (or restore a backup) and start again.",
                path=where) from None
        if isinstance(exc, OperationalError):
            raise StoreError(f"The database {where} cannot be opened: {exc.orig}.",
                             path=where) from None
        raise


def _at_head(engine: Engine) -> bool:
    """True when the database is already at SCHEMA_HEAD (the usual start)."""
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DatabaseError:
        return False  # no table yet, or not a database: the full path says which
    return version == SCHEMA_HEAD


def _has_foreign_tables(conn: Connection) -> bool:
    return bool(set(inspect(conn).get_table_names()) - {"alembic_version"})


def _is_not_a_database(exc: DatabaseError) -> bool:
    text = str(exc.orig).lower() if exc.orig is not None else str(exc).lower()
    return "not a database" in text or "malformed" in text or "file is encrypted" in text


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def open_engine(url: str) -> Engine:
    """Create the engine and migrate: what start-up calls."""
    engine = create_store_engine(url)
    try:
        migrate(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


__all__ = ["SCHEMA_HEAD", "WRITE", "create_store_engine", "current_revision", "head_revision",
           "migrate", "open_engine"]
