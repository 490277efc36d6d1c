"""The first job store: keys, uploads, batches, jobs, audit.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Creates the tables of :mod:`invoiceai.server.models` as they were first released."""
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("revoked_at", sa.DateTime),
        sa.Column("daily_quota", sa.Integer),
    )
    op.create_table(
        "uploads",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("media_type", sa.String(100), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "batches",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("owner", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("message_batches", sa.Boolean, nullable=False),
        sa.Column("idempotency_key", sa.String(128)),
        sa.UniqueConstraint("owner", "idempotency_key", name="uq_batches_owner_idempotency"),
    )
    _create_jobs()
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("job_id", sa.String(36)),
        sa.Column("batch_id", sa.String(36)),
        sa.Column("document_sha256", sa.String(64)),
        sa.Column("outcome", sa.String(40), nullable=False),
        sa.Column("cost_usd", sa.String(40)),
        sa.Column("detail", sa.String(300)),
    )
    op.create_index("ix_audit_job", "audit", ["job_id"])
    op.create_index("ix_audit_key_at", "audit", ["key_id", "at"])


def _create_jobs() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("owner", sa.String(32), nullable=False),
        sa.Column("batch_id", sa.String(36)),
        sa.Column("batch_index", sa.Integer),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("source_name", sa.String(300), nullable=False),
        sa.Column("upload_sha256", sa.String(64)),
        sa.Column("url", sa.Text),
        sa.Column("document_sha256", sa.String(64)),
        sa.Column("schema_name", sa.String(100), nullable=False),
        sa.Column("pages", sa.String(200)),
        sa.Column("password", sa.Text),
        sa.Column("callback_url", sa.Text),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("lease_owner", sa.String(64)),
        sa.Column("lease_expires", sa.DateTime),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("started_at", sa.DateTime),
        sa.Column("finished_at", sa.DateTime),
        sa.Column("origin", sa.String(16)),
        sa.Column("model", sa.String(100)),
        sa.Column("input_tokens", sa.BigInteger),
        sa.Column("output_tokens", sa.BigInteger),
        sa.Column("cost_usd", sa.String(40)),
        sa.Column("findings", sa.Integer),
        sa.Column("result", sa.Text),
        sa.Column("error_type", sa.String(100)),
        sa.Column("error_message", sa.Text),
        sa.UniqueConstraint("owner", "idempotency_key", name="uq_jobs_owner_idempotency"),
    )
    op.create_index("ix_jobs_status_created", "jobs", ["status", "created_at"])
    op.create_index("ix_jobs_owner_created", "jobs", ["owner", "created_at"])
    op.create_index("ix_jobs_batch", "jobs", ["batch_id", "batch_index"])


def downgrade() -> None:
    """Drops every table of the first job store."""
    for table in ("audit", "jobs", "batches", "uploads", "api_keys"):
        op.drop_table(table)
