"""Durable webhooks and retention: the ``webhook_deliveries`` outbox, and an index on ``jobs.upload_sha256``.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Creates ``webhook_deliveries`` (see :mod:`invoiceai.server.outbox`) and ``ix_jobs_upload``."""
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("job_id", sa.String(36), nullable=False),
        sa.Column("owner", sa.String(32), nullable=False),
        sa.Column("batch_id", sa.String(36)),
        sa.Column("document_sha256", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("url", sa.Text),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime, nullable=False),
        sa.Column("lease_owner", sa.String(255)),
        sa.Column("lease_expires", sa.DateTime),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime),
        sa.Column("last_error", sa.String(300)),
    )
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries", ["state", "next_attempt_at"])
    op.create_index("ix_webhook_deliveries_job", "webhook_deliveries", ["job_id"])
    # The retention purge asks, for each old upload, whether a job still uses it.
    op.create_index("ix_jobs_upload", "jobs", ["upload_sha256"])


def downgrade() -> None:
    """Drops ``webhook_deliveries`` and ``ix_jobs_upload``."""
    op.drop_index("ix_jobs_upload", table_name="jobs")
    op.drop_table("webhook_deliveries")
