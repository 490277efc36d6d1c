"""Upkeep: Message Batches records get a ``created_at`` (so orphans can be swept), the audit an index on its time.

Revision ID: 0014
Revises: 0013

The rows already there get the migration's time: a record left by a submission killed before
0014 is then swept a day after the upgrade (see :mod:`invoiceai.server.message_batches_store`).
The default is the database's clock in UTC, so a process of the previous version still writing
during a rolling upgrade dates its records too.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Adds ``message_batch_records.created_at`` with its index, and ``ix_audit_at``."""
    postgresql = op.get_bind().dialect.name == "postgresql"
    # SQLite's ALTER TABLE cannot add a column whose default is CURRENT_TIMESTAMP: the table is copied.
    now = "timezone('utc', now())" if postgresql else "CURRENT_TIMESTAMP"
    with op.batch_alter_table("message_batch_records", recreate="auto" if postgresql else "always") as records:
        records.add_column(sa.Column("created_at", sa.DateTime, nullable=False, server_default=sa.text(now)))
    op.create_index("ix_message_batch_records_job_created", "message_batch_records", ["job", "created_at"])
    op.create_index("ix_audit_at", "audit", ["at"])


def downgrade() -> None:
    """Drops them again."""
    op.drop_index("ix_audit_at", table_name="audit")
    op.drop_index("ix_message_batch_records_job_created", table_name="message_batch_records")
    with op.batch_alter_table("message_batch_records") as records:
        records.drop_column("created_at")
