"""What ibdesk knows about an account's server, in columns instead of one JSON bag.

Until 0004 the refused-login mark, the active-since and unhealthy-since times, the price,
"IBeam started" and the SSH host-key pin lived in `custom_data`, rewritten whole by six
writers from whatever copy each had read: a new password given during a monitor cycle
was undone by the cycle's write, and a pin could be erased by a stale copy. Each is now
a column that a statement changes alone. The pin gets the droplet it belongs to (the
account's droplet when it was made). Values are carried over and the keys removed from
`custom_data`; other keys (the seed's) stay.

Revision ID: 0004
Revises: 0003
"""

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_VERDICTS = {"password_refused", "codes_refused", "no_two_fa_handler", "secrets_unreadable",
             "outputs_unwritable", "two_fa_misconfigured"}
_KEYS = ("ibeam_started", "price_monthly", "login_refused", "active_since", "unhealthy_since",
         "ssh_host_key")


def _time(value: object) -> datetime | None:
    """An ISO time as stored by the UTCDateTime columns (naive UTC), or None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC)
    return parsed.replace(tzinfo=None)


def _verdict(mark: object) -> str | None:
    if not mark:
        return None
    return mark if isinstance(mark, str) and mark in _VERDICTS else "password_refused"


def _price(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def upgrade() -> None:
    # Plain ADD COLUMNs: SQLite does them in place. (A batch that rebuilt the table would
    # drop it, and with it, through ON DELETE CASCADE, every account's history.)
    op.add_column("accounts", sa.Column("price_monthly", sa.Float, nullable=True))
    op.add_column("accounts", sa.Column("ibeam_started", sa.Boolean, nullable=False,
                                        server_default=sa.false()))
    op.add_column("accounts", sa.Column("login_refused", sa.String(32), nullable=True))
    op.add_column("accounts", sa.Column("active_since", sa.DateTime, nullable=True))
    op.add_column("accounts", sa.Column("unhealthy_since", sa.DateTime, nullable=True))
    op.add_column("accounts", sa.Column("ssh_host_key", sa.Text, nullable=True))
    op.add_column("accounts", sa.Column("ssh_host_key_droplet_id", sa.Integer, nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, do_droplet_id, custom_data FROM accounts")).all()
    for account_id, droplet_id, raw in rows:
        data = json.loads(raw) if isinstance(raw, str) else dict(raw or {})
        if not isinstance(data, dict):
            data = {}
        host_key = data.get("ssh_host_key")
        host_key = host_key if isinstance(host_key, str) and host_key else None
        values = {
            "id": account_id,
            "price": _price(data.get("price_monthly")),
            "started": bool(data.get("ibeam_started")),
            "refused": _verdict(data.get("login_refused")),
            "active": _time(data.get("active_since")),
            "unhealthy": _time(data.get("unhealthy_since")),
            "key": host_key,
            "key_droplet": droplet_id if host_key else None,
            "rest": json.dumps({k: v for k, v in data.items() if k not in _KEYS}),
        }
        conn.execute(sa.text(
            "UPDATE accounts SET price_monthly = :price, ibeam_started = :started, "
            "login_refused = :refused, active_since = :active, unhealthy_since = :unhealthy, "
            "ssh_host_key = :key, ssh_host_key_droplet_id = :key_droplet, custom_data = :rest "
            "WHERE id = :id"), values)


def downgrade() -> None:
    """Back into custom_data, as 0003's ibdesk reads them."""
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT id, custom_data, price_monthly, ibeam_started, login_refused, active_since, "
        "unhealthy_since, ssh_host_key FROM accounts")).all()
    for account_id, raw, price, started, refused, active, unhealthy, key in rows:
        data = json.loads(raw) if isinstance(raw, str) else dict(raw or {})
        for name, value in (("price_monthly", price), ("ibeam_started", bool(started) or None),
                            ("login_refused", refused), ("ssh_host_key", key),
                            ("active_since", active), ("unhealthy_since", unhealthy)):
            if value is None:
                continue
            if isinstance(value, str) and name.endswith("_since"):
                value = datetime.fromisoformat(value)
            data[name] = (value.replace(tzinfo=UTC).isoformat() if isinstance(value, datetime)
                          else value)
        conn.execute(sa.text("UPDATE accounts SET custom_data = :data WHERE id = :id"),
                     {"data": json.dumps(data), "id": account_id})
    with op.batch_alter_table("accounts") as batch:
        for column in ("ssh_host_key_droplet_id", "ssh_host_key", "unhealthy_since",
                       "active_since", "login_refused", "ibeam_started", "price_monthly"):
            batch.drop_column(column)
