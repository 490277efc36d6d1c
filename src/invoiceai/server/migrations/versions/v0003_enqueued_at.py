"""Fleet mode: when a job's task was last handed to the broker.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Adds ``jobs.enqueued_at`` (see :mod:`invoiceai.server.fleet`)."""
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("enqueued_at", sa.DateTime))


def downgrade() -> None:
    """Drops ``jobs.enqueued_at``."""
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("enqueued_at")
