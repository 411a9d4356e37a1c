"""Every account, read with the standard library's sqlite3: `ibdesk accounts`' fast path.

Scripts call `ibdesk accounts --json` in loops; the repository's SQLAlchemy and Alembic
cost a quarter of a second to import before the first row, and pydantic's models
another tenth. This reads the columns the listing shows into plain `AccountLine`s, and
only when it can vouch for them: the store is a
SQLite file that exists and is at `SCHEMA_HEAD`. Anything else (no file yet, an older
schema that needs migrating, a newer one, a file that is not a database, another
database URL) answers None, and the caller takes the repository's path, which creates,
migrates or explains. tests/store/test_listing.py checks both paths print the same.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

from ibdesk.domain.enums import Environment, ServerStatus
from ibdesk.store.revision import SCHEMA_HEAD

BUSY_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class AccountLine:
    """What `ibdesk accounts` shows of an account: the same names and types as
    `Account`'s fields (tests/store/test_listing.py compares them)."""

    id: str
    username: str
    environment: Environment
    do_server_status: ServerStatus
    do_droplet_id: int | None
    do_droplet_name: str | None
    do_ip_address: str | None
    do_region: str | None
    do_last_status_check: datetime | None
    local_port: int | None


_COLUMNS = tuple(f.name for f in fields(AccountLine))


def _when(value: str | None) -> datetime | None:
    """Stored as naive UTC text (schema.UTCDateTime); an Account holds it aware."""
    return datetime.fromisoformat(value).replace(tzinfo=UTC) if value is not None else None


def read_accounts(database: Path) -> list[AccountLine] | None:
    """The accounts in `database`, oldest first (as `Repository.list_accounts`), or None
    when this path cannot vouch for the file."""
    if not database.is_file():
        return None
    try:
        # read-only: this path never creates, migrates or locks for writing
        with closing(sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True,
                                     timeout=BUSY_TIMEOUT_S)) as conn:
            version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            if version is None or version[0] != SCHEMA_HEAD:
                return None
            rows = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM accounts "
                                "ORDER BY created_at, id").fetchall()
    except sqlite3.Error:
        return None
    return [AccountLine(id=id_, username=username, environment=Environment(environment),
                        do_server_status=ServerStatus(status), do_droplet_id=droplet_id,
                        do_droplet_name=name, do_ip_address=ip, do_region=region,
                        do_last_status_check=_when(checked), local_port=port)
            for id_, username, environment, status, droplet_id, name, ip, region, checked,
            port in rows]


__all__ = ["AccountLine", "read_accounts"]
