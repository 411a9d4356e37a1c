"""Who carries a pending operation on, in columns of their own.

Until 0003 the owner was a `{"pid", "host"}` entry in the operation's JSON payload,
rewritten with the rest of the payload and compared nowhere: two `connect --resume` at
once both went ahead. Now the owner is four columns that one compare-and-set statement
changes (`Repository.claim_operation`); existing owners are carried over (run
"before-0003": no run of today's ibdesk can be it, so the process check alone decides).

Revision ID: 0003
Revises: 0002
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

LEGACY_RUN = "before-0003"


def upgrade() -> None:
    with op.batch_alter_table("pending_operations") as batch:
        batch.add_column(sa.Column("owner_run", sa.String(64), nullable=True))
        batch.add_column(sa.Column("owner_pid", sa.Integer, nullable=True))
        batch.add_column(sa.Column("owner_host", sa.String(255), nullable=True))
        batch.add_column(sa.Column("owner_process_started", sa.Float, nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT request_tag, payload FROM pending_operations")).all()
    for tag, raw in rows:
        payload = json.loads(raw) if isinstance(raw, str) else dict(raw or {})
        owner = payload.pop("owner", None)
        values: dict[str, object] = {"tag": tag, "payload": json.dumps(payload),
                                     "run": None, "pid": None, "host": None}
        if isinstance(owner, dict) and isinstance(owner.get("pid"), int):
            values.update(run=LEGACY_RUN, pid=owner["pid"], host=str(owner.get("host") or ""))
        conn.execute(sa.text(
            "UPDATE pending_operations SET payload = :payload, owner_run = :run, "
            "owner_pid = :pid, owner_host = :host WHERE request_tag = :tag"), values)


def downgrade() -> None:
    with op.batch_alter_table("pending_operations") as batch:
        batch.drop_column("owner_process_started")
        batch.drop_column("owner_host")
        batch.drop_column("owner_pid")
        batch.drop_column("owner_run")
