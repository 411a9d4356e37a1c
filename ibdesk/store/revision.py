"""The schema revision this ibdesk writes, without loading SQLAlchemy or Alembic.

`database.migrate` brings a store to it; `listing` reads a store with sqlite3 alone only
when the store is at it. tests/store/test_migrations.py checks it is Alembic's head.
"""

SCHEMA_HEAD = "0006"

__all__ = ["SCHEMA_HEAD"]
