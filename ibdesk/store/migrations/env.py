"""Alembic environment: ibdesk always hands Alembic an open connection.

`ibdesk.store.database.migrate()` opens it inside a `BEGIN IMMEDIATE` transaction, so
two processes starting at once migrate one after the other instead of racing.
"""

from alembic import context

from ibdesk.store.schema import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite alters tables by copying them
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
