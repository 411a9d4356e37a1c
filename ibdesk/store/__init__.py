"""Local state on SQLite (or any SQLAlchemy URL), migrated by Alembic at start-up.

Lazy (PEP 562): `ibdesk.store.listing` and `ibdesk.store.revision`, the command line's
fast read, load no SQLAlchemy; the names below load their module on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ibdesk.lazy import module_getattr

if TYPE_CHECKING:
    from ibdesk.store.database import (
        create_store_engine,
        current_revision,
        head_revision,
        migrate,
        open_engine,
    )
    from ibdesk.store.repository import Repository, StatusUpdate

_WHERE = {
    "Repository": "repository", "StatusUpdate": "repository",
    "create_store_engine": "database", "current_revision": "database",
    "head_revision": "database", "migrate": "database", "open_engine": "database",
}

__all__ = [
    "Repository",
    "StatusUpdate",
    "create_store_engine",
    "current_revision",
    "head_revision",
    "migrate",
    "open_engine",
]


__getattr__ = module_getattr(__name__, _WHERE)
