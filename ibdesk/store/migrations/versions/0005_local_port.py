"""Each account's own local port, and whether its tunnel is kept open.

Until 0005 a tunnel took port 5000 when it was free and a random one when not, so two
accounts could take turns on 5000 and a trading program configured for
https://localhost:5000 reached whichever account's tunnel happened to open first. The
port is now the account's, chosen once and unique across accounts (a unique index: two
writers can never give one port twice). Existing accounts get 5000, 5001, … in the
order they were made — the order the window lists them.

`keep_tunnel` remembers that the trader opened the account's tunnel, so that the app
reopens it when it starts again.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

FIRST_PORT = 5000


def upgrade() -> None:
    op.add_column("accounts", sa.Column("local_port", sa.Integer, nullable=True))
    op.add_column("accounts", sa.Column("keep_tunnel", sa.Boolean, nullable=False,
                                        server_default=sa.false()))
    conn = op.get_bind()
    ids = conn.execute(sa.text("SELECT id FROM accounts ORDER BY created_at, id")).scalars()
    for offset, account_id in enumerate(list(ids)):
        conn.execute(sa.text("UPDATE accounts SET local_port = :port WHERE id = :id"),
                     {"port": FIRST_PORT + offset, "id": account_id})
    op.create_index("ix_accounts_local_port", "accounts", ["local_port"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_accounts_local_port", "accounts")
    # plain DROP COLUMNs (SQLite ≥ 3.35): a batch would rebuild the table, and dropping
    # the old one would take every account's history with it (ON DELETE CASCADE)
    op.drop_column("accounts", "keep_tunnel")
    op.drop_column("accounts", "local_port")
