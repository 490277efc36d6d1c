"""Upkeep: Message Batches records get a ``created_at`` (so orphans can be swept), the audit an index on its time.

Revision ID: 0014
Revises: 0013

The rows already there get the migration's time: a record left by a submission killed before
0014 is then swept a day after the upgrade (see :mod:`invoiceai.server.message_batches_store`).
"""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Adds ``message_batch_records.created_at`` with its index, and ``ix_audit_at``."""
    if op.get_bind().dialect.name == "postgresql":
        # The database's clock in UTC, taken once by the ALTER (no table rewrite since PostgreSQL
        # 11), and the default of every later insert: a process of the previous version still
        # writing during a rolling upgrade dates its records truly.
        default = "timezone('utc', now())"
    else:
        # SQLite adds a column in place (no row is touched) only with a constant default;
        # CURRENT_TIMESTAMP would need the table copied, document bytes and all, under the
        # store's write lock, doubling the file for the copy. The constant is the migration's
        # time (naive UTC, as SQLAlchemy writes it). The trade-off: a process of the previous
        # version still writing after the upgrade dates its records at the migration's time,
        # older than they are; its submission in progress would look like an orphan only if
        # that process still ran a day (ORPHAN_AGE) after the upgrade.
        stamp = datetime.now(timezone.utc).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        default = f"'{stamp}'"
    op.add_column(
        "message_batch_records", sa.Column("created_at", sa.DateTime, nullable=False, server_default=sa.text(default))
    )
    op.create_index("ix_message_batch_records_job_created", "message_batch_records", ["job", "created_at"])
    op.create_index("ix_audit_at", "audit", ["at"])


def downgrade() -> None:
    """Drops them again (on SQLite the table is copied without the column: batch mode)."""
    op.drop_index("ix_audit_at", table_name="audit")
    op.drop_index("ix_message_batch_records_job_created", table_name="message_batch_records")
    with op.batch_alter_table("message_batch_records") as records:
        records.drop_column("created_at")
