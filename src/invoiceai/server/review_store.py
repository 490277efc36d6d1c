"""Corrections of stored results: the ``corrections`` table and the one transaction that applies one.

A correction changes the stored result itself (``jobs.result``), so the result endpoint and the
e-invoice export (``?format=cii``) return the corrected value from then on, with no second code
path to keep in step. The table keeps the trail: who (the key id), when, which field, the old and
the new value (as JSON). The general ``audit`` table gets a ``correct`` or ``confirm`` row naming
only the field, since it never holds document content.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, DateTime, Index, Integer, String, Table, Text

from invoiceai.server.audit import record
from invoiceai.server.clock import iso, utcnow
from invoiceai.server.db import reading
from invoiceai.server.errors import ConflictError, NotFoundError
from invoiceai.server.models import jobs, metadata
from invoiceai.server.review_check import rechecked
from invoiceai.server.review_edit import MAX_PATH, corrected_data, with_correction

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["Correction", "correct", "corrections", "read_corrections"]

corrections = Table(
    "corrections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(36), nullable=False),
    Column("key_id", String(32), nullable=False),
    Column("at", DateTime, nullable=False),
    Column("action", String(16), nullable=False),
    Column("field", String(MAX_PATH), nullable=False),
    Column("old_value", Text, nullable=False),
    Column("new_value", Text, nullable=False),
    Index("ix_corrections_job", "job_id", "id"),
)
"""One row per confirmed or corrected value; created by migration ``0010``."""


@dataclasses.dataclass(frozen=True)
class Correction:
    """A value a person confirmed or corrected.

    Attributes:
        id: Increasing number (the order corrections were made in).
        job_id: The job whose result changed.
        key_id: Who: the API key's id (``anonymous`` without auth).
        at: When (UTC).
        action: ``correct`` (the value changed) or ``confirm`` (the same value, checked by a person).
        field: The field's path (``line_items[0].amount``).
        old_value: The value before, as JSON (``None`` when it was not set).
        new_value: The value after, as the schema normalised it.
    """

    id: int
    job_id: str
    key_id: str
    at: datetime
    action: str
    field: str
    old_value: Any
    new_value: Any

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the time as ISO 8601."""
        return {
            "id": self.id, "field": self.field, "action": self.action, "old_value": self.old_value,
            "new_value": self.new_value, "key_id": self.key_id, "at": iso(self.at),
        }  # fmt: skip


def correct(
    engine: Engine, job_id: str, owner: str, field: str, value: Any, schemas: Mapping[str, type[Any]]
) -> Correction:
    """Sets ``field`` of a succeeded job's result to ``value``, validated by the job's schema.

    The job's row is locked for the read-modify-write (``FOR UPDATE`` on PostgreSQL; SQLite's
    write transaction holds the database), so two corrections at once both land.

    Args:
        engine: The job store.
        job_id: The job.
        owner: The calling key's id; another key's job is not found.
        field: The field's path.
        value: The new value, as JSON.
        schemas: The schemas the service serves, by name.

    Returns:
        The stored correction.

    Raises:
        NotFoundError: No such job for this key (404).
        ConflictError: The job has no result (not succeeded) or its schema is not served (409).
        InvalidRequestError: A malformed path, a field the schema lacks, or a value it refuses (422).
    """
    with engine.begin() as connection:
        row = connection.execute(
            jobs.select().where(jobs.c.id == job_id, jobs.c.owner == owner).with_for_update()
        ).mappings().first()  # fmt: skip
        if row is None:
            raise NotFoundError(f"No job {job_id!r} for this key.")
        if row["status"] != "succeeded" or not row["result"]:
            raise ConflictError(f"The job is {row['status']}; only a succeeded job's result can be corrected.")
        model = schemas.get(row["schema_name"])
        if model is None:
            raise ConflictError(f"The job's schema {row['schema_name']!r} is not served any more.")
        result = json.loads(row["result"])
        data, old, new = corrected_data(model, result["data"], field, value)
        action = "confirm" if old == new else "correct"
        at = utcnow()
        inserted = connection.execute(
            corrections.insert().values(
                job_id=job_id, key_id=owner, at=at, action=action, field=field,
                old_value=json.dumps(old, ensure_ascii=False), new_value=json.dumps(new, ensure_ascii=False),
            )
        )  # fmt: skip
        key = inserted.inserted_primary_key
        entry = Correction(int(key[0]) if key else 0, job_id, owner, at, action, field, old, new)
        updated = rechecked(model, with_correction({**result, "data": data}, entry.to_dict()), result["data"])
        connection.execute(
            jobs.update().where(jobs.c.id == job_id).values(result=json.dumps(updated, ensure_ascii=False))
        )
        record(
            connection, key_id=owner, action=action, outcome="ok", job_id=job_id, batch_id=row["batch_id"],
            document_sha256=row["document_sha256"], detail=field,
        )  # fmt: skip
    return entry


def read_corrections(engine: Engine, job_id: str) -> list[Correction]:
    """A job's corrections, oldest first."""
    query = corrections.select().where(corrections.c.job_id == job_id).order_by(corrections.c.id)
    with reading(engine) as connection:
        return [
            Correction(
                row["id"],
                row["job_id"],
                row["key_id"],
                row["at"],
                row["action"],
                row["field"],
                json.loads(row["old_value"]),
                json.loads(row["new_value"]),
            )
            for row in connection.execute(query).mappings()
        ]
