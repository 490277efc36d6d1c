"""An index on ``jobs (status, finished_at)``: the retention purge picks the jobs that ended first.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Creates ``ix_jobs_finished`` (see :mod:`invoiceai.server.retention`)."""
    op.create_index("ix_jobs_finished", "jobs", ["status", "finished_at"])


def downgrade() -> None:
    """Drops ``ix_jobs_finished``."""
    op.drop_index("ix_jobs_finished", table_name="jobs")
