"""Schedules, hourly prices, parked servers, tunnel use, and latency samples (issue 17).

`schedule` (JSON, NULL = always on) is when the server should be up and what happens out
of hours; `parked` says the schedule has it powered off or destroyed; `tunnel_used_at` is
what idle shutdown counts from; `price_hourly` sits beside `price_monthly` (both from
`/v2/sizes`). `latency_samples` keeps the gateway latency every few minutes for the report;
`droplet_spans` each droplet's life and prices, what this month's cost so far is read from.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("accounts", sa.Column("schedule", sa.JSON, nullable=True))
    op.add_column("accounts", sa.Column("price_hourly", sa.Float, nullable=True))
    op.add_column("accounts", sa.Column("parked", sa.String(16), nullable=True))
    op.add_column("accounts", sa.Column("parked_at", sa.DateTime, nullable=True))
    op.add_column("accounts", sa.Column("tunnel_used_at", sa.DateTime, nullable=True))
    op.create_table(
        "latency_samples",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.String(32),
                  sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("ms", sa.Float, nullable=False),
    )
    op.create_index("ix_latency_samples_account_at", "latency_samples", ["account_id", "at"])
    op.create_table(
        "droplet_spans",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("droplet_id", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("ended_at", sa.DateTime, nullable=True),
        sa.Column("price_hourly", sa.Float, nullable=False),
        sa.Column("price_monthly", sa.Float, nullable=False),
    )
    op.create_index("ix_droplet_spans_account_id", "droplet_spans", ["account_id"])
    op.create_index("ix_droplet_spans_started", "droplet_spans", ["started_at"])
    # the servers that exist now bill from when their account was made (the best record
    # there is); their hourly price is the monthly one over DigitalOcean's 672-hour cap
    op.execute("INSERT INTO droplet_spans (account_id, droplet_id, started_at, price_hourly, "
               "price_monthly) SELECT id, do_droplet_id, created_at, "
               "COALESCE(price_monthly, 0) / 672.0, COALESCE(price_monthly, 0) FROM accounts "
               "WHERE do_droplet_id IS NOT NULL")


def downgrade() -> None:
    op.drop_index("ix_droplet_spans_started", "droplet_spans")
    op.drop_index("ix_droplet_spans_account_id", "droplet_spans")
    op.drop_table("droplet_spans")
    op.drop_index("ix_latency_samples_account_at", "latency_samples")
    op.drop_table("latency_samples")
    # plain DROP COLUMNs (SQLite ≥ 3.35), as 0005 explains
    op.drop_column("accounts", "tunnel_used_at")
    op.drop_column("accounts", "parked_at")
    op.drop_column("accounts", "parked")
    op.drop_column("accounts", "price_hourly")
    op.drop_column("accounts", "schedule")
