"""What the API answers with: jobs and batches as JSON, and their OpenAPI models.

The models document the responses (``/openapi.json``); the views build the same shape from store rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from invoiceai.server.clock import iso
from invoiceai.server.models import FINAL_STATES

if TYPE_CHECKING:
    from sqlalchemy.engine import RowMapping

__all__ = ["BatchOut", "JobOut", "Problem", "batch_view", "job_view"]

Status = Literal["queued", "running", "succeeded", "failed", "canceled"]


class UsageOut(BaseModel):
    """Tokens and cost of a job (zero for cache hits and e-invoices)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: str = Field("0", description="US dollars, a decimal string")


class ErrorOut(BaseModel):
    """Why a job failed."""

    type: str
    message: str


class JobOut(BaseModel):
    """A job: one document being extracted."""

    id: str
    status: Status
    batch_id: str | None = None
    batch_index: int | None = None
    source: str
    document_sha256: str | None = None
    schema_name: str = Field(alias="schema")
    pages: str | None = None
    attempts: int
    progress: float = Field(description="0 queued, 0.5 running, 1 finished")
    message_batch: bool = Field(False, description="Sent through the Message Batches API (half price, within 24 h)")
    stage: str | None = Field(None, description="Where an unfinished job of a Message Batch stands, in words")
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    queued_seconds: float | None = None
    run_seconds: float | None = None
    origin: str | None = None
    model: str | None = None
    usage: UsageOut
    findings: int | None = None
    error: ErrorOut | None = None
    result: dict[str, Any] | None = Field(None, description="With ?wait=N, a finished job's result")
    links: dict[str, str]


class BatchOut(BaseModel):
    """A batch: its counts, progress and (on creation) its jobs."""

    id: str
    created_at: str
    total: int
    counts: dict[str, int]
    progress: float
    finished: bool
    message_batches: bool
    jobs: list[JobOut] | None = None
    links: dict[str, str]


class Problem(BaseModel):
    """An error (RFC 9457 ``application/problem+json``)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None


def _seconds(start: Any, end: Any) -> float | None:
    return None if start is None or end is None else round((end - start).total_seconds(), 3)


def _stage(row: RowMapping) -> str | None:
    if not row["message_batch"] or row["status"] in FINAL_STATES:
        return None
    if row["status"] == "queued":
        return "waiting to be sent in a Message Batch"
    return "in a Message Batch: results within 24 hours"


def job_view(row: RowMapping, *, result: dict[str, Any] | None = None) -> dict[str, Any]:
    """A job row as the API shows it: never its password, callback URL or idempotency key."""
    status = row["status"]
    error = None
    if row["error_type"] is not None:
        error = {"type": row["error_type"], "message": row["error_message"] or ""}
    view = {
        "id": row["id"], "status": status, "batch_id": row["batch_id"], "batch_index": row["batch_index"],
        "source": row["source_name"], "document_sha256": row["document_sha256"], "schema": row["schema_name"],
        "pages": row["pages"], "attempts": row["attempt"],
        "progress": 1.0 if status in FINAL_STATES else 0.5 if status == "running" else 0.0,
        "message_batch": bool(row["message_batch"]), "stage": _stage(row),
        "created_at": iso(row["created_at"]), "started_at": iso(row["started_at"]),
        "finished_at": iso(row["finished_at"]), "queued_seconds": _seconds(row["created_at"], row["started_at"]),
        "run_seconds": _seconds(row["started_at"], row["finished_at"]), "origin": row["origin"],
        "model": row["model"],
        "usage": {"input_tokens": row["input_tokens"] or 0, "output_tokens": row["output_tokens"] or 0,
                  "cost_usd": row["cost_usd"] or "0"},
        "findings": row["findings"], "error": error,
        "links": {"self": f"/v1/jobs/{row['id']}", "result": f"/v1/jobs/{row['id']}/result"},
    }  # fmt: skip
    if result is not None:
        view["result"] = result
    return view


def batch_view(batch: RowMapping, states: list[str], *, jobs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A batch with the count of its jobs per status (``states``: each job's status, in input order)."""
    counts = dict.fromkeys(("queued", "running", "succeeded", "failed", "canceled"), 0)
    for status in states:
        counts[status] = counts.get(status, 0) + 1
    done = sum(counts[status] for status in FINAL_STATES)
    total = int(batch["total"])
    view: dict[str, Any] = {
        "id": batch["id"], "created_at": iso(batch["created_at"]), "total": total, "counts": counts,
        "progress": round(done / total, 4) if total else 1.0, "finished": done == total,
        "message_batches": bool(batch["message_batches"]),
        "links": {"self": f"/v1/batches/{batch['id']}", "results": f"/v1/batches/{batch['id']}/results"},
    }  # fmt: skip
    if jobs is not None:
        view["jobs"] = jobs
    return view
