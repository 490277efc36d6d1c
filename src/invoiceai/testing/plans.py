"""What the fake Claude API answers to one request, before an adapter sends it.

A :class:`Plan` is decided once (:meth:`FakeClaudeAPI.plan <invoiceai.testing.FakeClaudeAPI.plan>`)
and carried out by an adapter: the ``httpx2`` mock transports (:func:`to_response`) or the
loopback server, which turn ``reset`` and ``timeout`` plans into real network events.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from invoiceai.testing.api_checks import FakeModel
from invoiceai.testing.faults import ERROR_TYPES
from invoiceai.testing.request_body import json_bytes

if TYPE_CHECKING:
    import httpx2

__all__ = ["Action", "Plan", "error_plan", "model_info_plan", "retry_after_headers", "to_response"]

Action = Literal["respond", "reset", "timeout"]


@dataclasses.dataclass(frozen=True)
class Plan:
    """One decided answer.

    Attributes:
        action: ``respond``, ``reset`` (drop the connection) or ``timeout`` (say nothing).
        status: HTTP status of a response.
        headers: Response headers besides ``content-type``.
        body: Response body (JSON).
        delay: Seconds to wait before answering (latency, slow faults).
        stall: Seconds a ``timeout`` stays silent before hanging up (loopback server only).
        counted: Whether the request holds one of the fake's concurrency slots until finished.
    """

    action: Action
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    delay: float = 0.0
    stall: float = 0.0
    counted: bool = False


def error_plan(
    status: int,
    error_type: str,
    message: str,
    request_id: str,
    *,
    details: Mapping[str, Any] | None = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> Plan:
    """Returns an error response with the body shape the real API sends."""
    error: dict[str, Any] = {"type": error_type or ERROR_TYPES.get(status, "api_error"), "message": message}
    if details:
        error["details"] = dict(details)
    body = {"type": "error", "error": error, "request_id": request_id}
    return Plan("respond", status, (("request-id", request_id), *headers), json_bytes(body))


def model_info_plan(model_id: str, request_id: str, model: FakeModel) -> Plan:
    """Returns the ``GET /v1/models/{id}`` answer for a fake model with ``model``'s capabilities."""

    def flag(value: bool) -> dict[str, bool]:
        return {"supported": value}

    info = {
        "type": "model",
        "id": model_id,
        "display_name": f"Fake {model_id}",
        "created_at": "2026-01-01T00:00:00Z",
        "lifecycle": "active",
        "max_input_tokens": 200_000,
        "max_tokens": model.max_tokens_limit,
        "capabilities": {
            "batch": flag(True),
            "citations": flag(True),
            "code_execution": flag(False),
            "context_management": {"supported": False},
            "effort": {"supported": False, **{level: flag(False) for level in ("low", "medium", "high", "max")}},
            "image_input": flag(True),
            "pdf_input": flag(model.pdf_input),
            "server_tools": {"supported": False, "code_execution": flag(False), "web_search": flag(False)},
            "structured_outputs": flag(model.structured_outputs),
            "thinking": {"supported": False, "types": {}},
        },
    }
    return Plan("respond", 200, (("request-id", request_id),), json_bytes(info))


def retry_after_headers(seconds: float) -> tuple[tuple[str, str], ...]:
    """Returns ``retry-after`` (whole seconds, rounded up) and, when not whole, ``retry-after-ms``."""
    headers = [("retry-after", str(max(1, math.ceil(seconds))))]
    if seconds != math.ceil(seconds):
        # The precise wait, for clients that read it (the SDK and invoiceai do).
        headers.append(("retry-after-ms", str(round(seconds * 1000))))
    return tuple(headers)


def to_response(plan: Plan, request: httpx2.Request) -> httpx2.Response:
    """Carries out ``plan`` for a mock transport: a response, or the exception a dropped connection raises."""
    import httpx2

    if plan.action == "reset":
        raise httpx2.ReadError("[Errno 104] Connection reset by peer", request=request)
    if plan.action == "timeout":
        raise httpx2.ReadTimeout("The read operation timed out", request=request)
    headers = [("content-type", "application/json"), *plan.headers]
    return httpx2.Response(plan.status, headers=headers, content=plan.body)
