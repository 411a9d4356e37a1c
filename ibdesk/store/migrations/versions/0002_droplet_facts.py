"""Droplet facts shown in the status panel (size, image) and the status detail.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("do_size", sa.String(64), nullable=True))
        batch.add_column(sa.Column("do_image", sa.String(64), nullable=True))
        batch.add_column(sa.Column("status_detail", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("status_detail")
        batch.drop_column("do_image")
        batch.drop_column("do_size")
