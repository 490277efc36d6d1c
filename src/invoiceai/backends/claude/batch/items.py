"""The items of a Message Batch: custom ids, the per-batch limits, and what a result line means. Pure.

A batch item is ``{"custom_id": ..., "params": {...}}`` where ``params`` is exactly what the live
path would pass to ``messages.create``. Results come back in any order, matched by ``custom_id``,
each ``succeeded`` (with the ``message``), ``errored`` (with the API's error body), ``canceled`` or
``expired``. :func:`item_error` turns the last three into the exception a live call would have
raised, so the job decides about them exactly as it decides about a live failure.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

__all__ = [
    "API_LIMITS",
    "BatchItemLost",
    "BatchLimits",
    "BatchRequest",
    "custom_id",
    "item_error",
    "job_prefix",
    "params_digest",
    "parse_custom_id",
    "retryable",
    "split_batches",
]

_CUSTOM_ID = re.compile(r"^(?:[0-9a-f]{10}-)?d(\d+)-[sc](\d+)-a(\d+)$")

# What an errored item's ``error.type`` would have been as an HTTP status (the result has no status).
_STATUS_OF_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


@dataclasses.dataclass(frozen=True)
class BatchLimits:
    """How much one Message Batch may hold.

    Attributes:
        max_requests: Requests per batch (the API allows 100,000).
        max_bytes: Bytes of the JSON request items per batch (the API allows 256 MB for the
            whole body; a little room is kept for the envelope).
    """

    max_requests: int = 100_000
    max_bytes: int = 256 * 1024 * 1024 - 64 * 1024

    def __post_init__(self) -> None:
        if self.max_requests < 1 or self.max_bytes < 1:
            raise ValueError(f"batch limits must be positive: {self}")

    def to_dict(self) -> dict[str, int]:
        """Returns the limits as JSON-ready values (they are stored with a job)."""
        return dataclasses.asdict(self)


API_LIMITS = BatchLimits()
"""The Message Batches API's own limits."""


@dataclasses.dataclass(frozen=True)
class BatchRequest:
    """One item of a batch.

    Attributes:
        custom_id: Unique within the batch (and, as invoiceai builds them, within the job).
        params: The ``messages.create`` keyword arguments.
        size: Bytes the item adds to the batch body.
    """

    custom_id: str
    params: dict[str, Any] = dataclasses.field(repr=False)
    size: int

    @classmethod
    def of(cls, custom_id: str, params: Mapping[str, Any]) -> BatchRequest:
        """Builds an item and measures it."""
        item = {"custom_id": custom_id, "params": params}
        return cls(custom_id, dict(params), len(json.dumps(item, separators=(",", ":")).encode("utf-8")) + 1)

    def to_dict(self) -> dict[str, Any]:
        """Returns the item as the API takes it."""
        return {"custom_id": self.custom_id, "params": self.params}


def job_prefix(job_id: str) -> str:
    """Returns the 10 hex digits that start every custom id of job ``job_id``."""
    return hashlib.sha256(job_id.encode("utf-8")).hexdigest()[:10]


def custom_id(document: int, sequence: int, attempt: int, *, prefix: str = "", ahead: bool = False) -> str:
    """Returns the custom id of attempt ``attempt`` of request ``sequence`` of document ``document``.

    A chunk's first request sent ahead of its turn is named by the chunk instead
    (``d4-c2-a1``: document 4, chunk 2, attempt 1), since re-asks shift request numbers.

    Every attempt gets its own id, so a late result of an earlier attempt can never be taken for
    a later one; all three numbers are positions in the job, so the id is the same whichever
    process computes it. The job's :func:`job_prefix` makes it unique across jobs too, so a batch
    found by listing (after a lost create response) is recognised by its items alone. At most
    ``10 + 1 + 3 * 20 + 5`` characters of ``[0-9a-z-]``: within the API's 64.
    """
    core = f"d{document}-{'c' if ahead else 's'}{sequence}-a{attempt}"
    return f"{prefix}-{core}" if prefix else core


def parse_custom_id(value: str) -> tuple[int, int, int] | None:
    """Returns ``(document, request or chunk, attempt)`` of a :func:`custom_id` (any prefix), else ``None``."""
    match = _CUSTOM_ID.match(value)
    return None if match is None else (int(match[1]), int(match[2]), int(match[3]))


def params_digest(params: Mapping[str, Any]) -> str:
    """Returns a short SHA-256 of a request, to notice when a rebuilt request differs from the one sent."""
    text = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def split_batches(requests: Sequence[BatchRequest], limits: BatchLimits) -> Iterator[list[BatchRequest]]:
    """Cuts ``requests`` into consecutive batches that each stay within ``limits``.

    A single item larger than ``max_bytes`` goes alone (the API refuses it with a clear error,
    which fails only that document).
    """
    batch: list[BatchRequest] = []
    size = 0
    for request in requests:
        if batch and (len(batch) >= limits.max_requests or size + request.size > limits.max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(request)
        size += request.size
    if batch:
        yield batch


class BatchItemLost(Exception):
    """A batch item that was never processed: ``expired`` (not done within 24 h) or ``canceled``."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        reason = "was not processed within the batch's 24 hours" if kind == "expired" else "was canceled"
        super().__init__(f"the Message Batches request {reason}")


def item_error(result: Mapping[str, Any]) -> BaseException:
    """Returns the exception that stands for an ``errored``, ``expired`` or ``canceled`` result.

    An errored item becomes the ``anthropic.APIStatusError`` the live call would have raised
    (status from the error type, body as sent), so that retries, image shrinking and the schema
    fallback decide about it as they do live.
    """
    if result.get("type") != "errored":
        return BatchItemLost(str(result.get("type") or "expired"))
    import anthropic
    import httpx2

    found = result.get("error")
    body: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    inner = body.get("error")
    error: Mapping[str, Any] = inner if isinstance(inner, Mapping) else body
    kind = str(error.get("type") or "api_error")
    status = _STATUS_OF_TYPE.get(kind, 500)
    request = httpx2.Request("POST", "https://api.anthropic.com/v1/messages/batches")
    response = httpx2.Response(status, request=request, json=dict(body))
    message = f"Error code: {status} - {dict(body)}"
    return anthropic.APIStatusError(message, response=response, body=dict(body))


def retryable(error: BaseException) -> bool:
    """Tells whether a failed item is worth sending again in a follow-up batch."""
    from invoiceai.backends.claude.retry import classify

    return isinstance(error, BatchItemLost) or classify(error) == "retry"
