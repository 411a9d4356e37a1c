"""Accounts with the seed's columns, status history, pending operations.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("environment", sa.String(8), nullable=False),
        sa.Column("two_fa_handler", sa.String(32), nullable=True),
        sa.Column("do_droplet_id", sa.Integer, nullable=True),
        sa.Column("do_droplet_name", sa.String(255), nullable=True),
        sa.Column("do_server_status", sa.String(16), nullable=False),
        sa.Column("do_ip_address", sa.String(64), nullable=True),
        sa.Column("do_region", sa.String(16), nullable=True),
        sa.Column("do_last_status_check", sa.DateTime, nullable=True),
        sa.Column("custom_data", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_accounts_do_droplet_id", "accounts", ["do_droplet_id"])
    op.create_table(
        "status_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.String(32),
                  sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("previous", sa.String(16), nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_index("ix_status_history_account_at", "status_history", ["account_id", "at"])
    op.create_table(
        "pending_operations",
        sa.Column("request_tag", sa.String(128), primary_key=True),
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("step", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_pending_operations_account_id", "pending_operations", ["account_id"])
    op.create_index("ix_pending_operations_state", "pending_operations", ["state"])


def downgrade() -> None:
    op.drop_table("pending_operations")
    op.drop_table("status_history")
    op.drop_table("accounts")
