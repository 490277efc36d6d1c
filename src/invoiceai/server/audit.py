"""The audit trail: who did what to which job, when, with which outcome and cost.

A row is written for every state change of a job and every API call that creates a job, reads a
result or cancels one, in the same transaction as the change it records. A row never holds
document content, a password, a key or a callback URL: only ids, the document's SHA-256, an
outcome word and the cost.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING

from invoiceai.server.clock import utcnow
from invoiceai.server.db import reading
from invoiceai.server.models import audit

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

__all__ = ["AuditRow", "read_audit", "record"]


@dataclasses.dataclass(frozen=True)
class AuditRow:
    """One audit row.

    Attributes:
        at: When (UTC).
        key_id: Who: the API key's id (``anonymous`` without auth, ``system`` for workers).
        action: What: ``create``, ``read_result``, ``cancel``, ``state:<status>``, ``webhook``.
        outcome: ``ok``, ``duplicate``, ``refused``, an error type, or the new status.
        job_id: The job, when one is concerned.
        batch_id: The batch, when one is concerned.
        document_sha256: The document's SHA-256, when known.
        cost_usd: What the action cost, as a decimal string, when it cost something.
        detail: A short, secret-free note (a format, an attempt number).
    """

    at: datetime
    key_id: str
    action: str
    outcome: str
    job_id: str | None = None
    batch_id: str | None = None
    document_sha256: str | None = None
    cost_usd: str | None = None
    detail: str | None = None


def record(
    connection: Connection,
    *,
    key_id: str,
    action: str,
    outcome: str,
    job_id: str | None = None,
    batch_id: str | None = None,
    document_sha256: str | None = None,
    cost_usd: str | None = None,
    detail: str | None = None,
) -> None:
    """Adds one row inside the caller's transaction (see :class:`AuditRow` for the fields)."""
    connection.execute(
        audit.insert().values(
            at=utcnow(), key_id=key_id, action=action, outcome=outcome[:40], job_id=job_id, batch_id=batch_id,
            document_sha256=document_sha256, cost_usd=cost_usd, detail=None if detail is None else detail[:300],
        )
    )  # fmt: skip


def read_audit(engine: Engine, *, job_id: str | None = None, key_id: str | None = None) -> list[AuditRow]:
    """The audit rows of a job or a key (or all), oldest first."""
    query = audit.select().order_by(audit.c.id)
    if job_id is not None:
        query = query.where(audit.c.job_id == job_id)
    if key_id is not None:
        query = query.where(audit.c.key_id == key_id)
    with reading(engine) as connection:
        return [
            AuditRow(**{field.name: row[field.name] for field in dataclasses.fields(AuditRow)})
            for row in connection.execute(query).mappings()
        ]
