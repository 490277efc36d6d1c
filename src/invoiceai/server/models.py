"""The job store's tables (SQLAlchemy Core): keys, uploads, batches, jobs and the audit trail.

Times are naive UTC ``datetime`` s, which SQLite and PostgreSQL compare alike. Money is a decimal
string, never a float. A job's document lives in ``uploads`` (content-addressed by SHA-256) so every
worker that can reach the database can read it; a URL job stores the URL and fetches it when it runs.
The Alembic migrations under ``migrations/`` create exactly these tables; a change here needs a
new migration there.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

__all__ = ["FINAL_STATES", "JOB_STATES", "api_keys", "audit", "batches", "jobs", "metadata", "uploads"]

JOB_STATES = ("queued", "running", "succeeded", "failed", "canceled")
FINAL_STATES = frozenset({"succeeded", "failed", "canceled"})

metadata = MetaData()

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime, nullable=False),
    Column("revoked_at", DateTime),
    Column("daily_quota", Integer),
)

uploads = Table(
    "uploads",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("media_type", String(100), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("created_at", DateTime, nullable=False),
)

batches = Table(
    "batches",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("owner", String(32), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("total", Integer, nullable=False),
    Column("message_batches", Boolean, nullable=False, default=False),
    Column("idempotency_key", String(128)),
    UniqueConstraint("owner", "idempotency_key", name="uq_batches_owner_idempotency"),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("owner", String(32), nullable=False),
    Column("batch_id", String(36)),
    Column("batch_index", Integer),
    Column("status", String(16), nullable=False),
    Column("idempotency_key", String(128), nullable=False),
    Column("source_name", String(300), nullable=False),
    Column("upload_sha256", String(64)),
    Column("url", Text),
    Column("document_sha256", String(64)),
    Column("schema_name", String(100), nullable=False),
    Column("pages", String(200)),
    # Kept only while the job may still run; set to NULL when it ends (leases.finish, store.cancel_job).
    Column("password", Text),
    Column("callback_url", Text),
    Column("attempt", Integer, nullable=False, default=0),
    Column("lease_owner", String(255)),  # 64 until migration 0002
    Column("lease_expires", DateTime),
    # Fleet mode: when the job's task was last sent to the broker (see invoiceai.server.fleet).
    Column("enqueued_at", DateTime),
    # Sent through the Message Batches API (invoiceai.server.message_batches): no worker claims it.
    Column("message_batch", Boolean, nullable=False, default=False, server_default=false()),
    Column("created_at", DateTime, nullable=False),
    Column("started_at", DateTime),
    Column("finished_at", DateTime),
    Column("origin", String(16)),
    Column("model", String(100)),
    Column("input_tokens", BigInteger),
    Column("output_tokens", BigInteger),
    Column("cost_usd", String(40)),
    Column("findings", Integer),
    Column("result", Text),
    Column("error_type", String(100)),
    Column("error_message", Text),
    UniqueConstraint("owner", "idempotency_key", name="uq_jobs_owner_idempotency"),
    Index("ix_jobs_status_created", "status", "created_at"),
    Index("ix_jobs_owner_created", "owner", "created_at"),
    Index("ix_jobs_batch", "batch_id", "batch_index"),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False),
    Column("key_id", String(32), nullable=False),
    Column("action", String(40), nullable=False),
    Column("job_id", String(36)),
    Column("batch_id", String(36)),
    Column("document_sha256", String(64)),
    Column("outcome", String(40), nullable=False),
    Column("cost_usd", String(40)),
    Column("detail", String(300)),
    Index("ix_audit_job", "job_id"),
    Index("ix_audit_key_at", "key_id", "at"),
)
