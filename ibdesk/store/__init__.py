"""Local state on SQLite (or any SQLAlchemy URL), migrated by Alembic at start-up."""

from ibdesk.store.database import (
    create_store_engine,
    current_revision,
    head_revision,
    migrate,
    open_engine,
)
from ibdesk.store.repository import Repository, StatusUpdate

__all__ = [
    "Repository",
    "StatusUpdate",
    "create_store_engine",
    "current_revision",
    "head_revision",
    "migrate",
    "open_engine",
]
