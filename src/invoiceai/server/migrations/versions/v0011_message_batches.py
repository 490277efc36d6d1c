"""Message Batches: jobs the normal workers leave alone, and the batches' durable state.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Adds ``jobs.message_batch`` and the tables of :mod:`invoiceai.server.message_batches_store`."""
    with op.batch_alter_table("jobs") as jobs:
        jobs.add_column(sa.Column("message_batch", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_table(
        "message_batch_records",
        sa.Column("job", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "message_batch_leases",
        sa.Column("job", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("expires", sa.Float, nullable=False),
    )
    op.create_table(
        "message_batches",
        sa.Column("batch_id", sa.String(36), primary_key=True),
        sa.Column("job_id", sa.String(64), unique=True),
        sa.Column("members", sa.Text),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("lease_owner", sa.String(255)),
        sa.Column("lease_expires", sa.DateTime),
        sa.Column("next_look_at", sa.DateTime, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("submitted_at", sa.DateTime),
        sa.Column("finished_at", sa.DateTime),
        sa.Column("last_error", sa.String(300)),
    )
    op.create_index("ix_message_batches_state_next", "message_batches", ["state", "next_look_at"])


def downgrade() -> None:
    """Drops them again."""
    op.drop_table("message_batches")
    op.drop_table("message_batch_leases")
    op.drop_table("message_batch_records")
    with op.batch_alter_table("jobs") as jobs:
        jobs.drop_column("message_batch")
