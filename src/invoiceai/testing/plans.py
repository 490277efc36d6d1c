"""What the fake Claude API answers to one request, before an adapter sends it.

A :class:`Plan` is decided once (:meth:`FakeClaudeAPI.plan <invoiceai.testing.FakeClaudeAPI.plan>`)
and carried out by an adapter: the ``httpx2`` mock transports (:func:`to_response`) or the
loopback server, which turn ``reset`` and ``timeout`` plans into real network events.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from invoiceai.testing.api_checks import FakeModel
from invoiceai.testing.faults import ERROR_TYPES
from invoiceai.testing.request_body import json_bytes

if TYPE_CHECKING:
    import httpx2

__all__ = [
    "API_KEY_PLACEHOLDER",
    "API_KEY_TAIL_PLACEHOLDER",
    "Action",
    "Plan",
    "echo_key",
    "error_plan",
    "model_info_plan",
    "retry_after_headers",
    "to_response",
    "with_headers",
]

Action = Literal["respond", "reset", "timeout"]

API_KEY_PLACEHOLDER = "{api_key}"
"""Replaced by the request's API key (``x-api-key``, or the ``Authorization`` bearer token) in an answer."""

API_KEY_TAIL_PLACEHOLDER = "{api_key_tail}"
"""Replaced by the request's key without its prefix: what follows ``sk-ant-api03-`` (or the like),
else what follows its first ``-`` or ``_``."""

_KEY_PREFIX = re.compile(r"^sk-ant-[a-z]+\d*-|^[^-_]*[-_]")


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


def with_headers(plan: Plan, headers: Mapping[str, str]) -> Plan:
    """Returns ``plan`` with ``headers`` added to a response, replacing those of the same name."""
    if not headers or plan.action != "respond":
        return plan
    names = {name.lower() for name in headers}
    kept = tuple((name, value) for name, value in plan.headers if name.lower() not in names)
    return dataclasses.replace(plan, headers=kept + tuple(headers.items()))


def echo_key(plan: Plan, request_headers: Mapping[str, str]) -> Plan:
    """Fills :data:`API_KEY_PLACEHOLDER` and :data:`API_KEY_TAIL_PLACEHOLDER` in with the request's key.

    Anywhere in a response: header values, and the JSON body (a fault's message and details, a
    refusal explanation, the answer), where the key is inserted JSON-escaped. A careless proxy
    that quotes the key back is what a client's masking must survive::

        api = FakeClaudeAPI(response_headers={"x-echo": API_KEY_PLACEHOLDER})
        api.enqueue(Fault.unauthorized(f"invalid x-api-key: {API_KEY_TAIL_PLACEHOLDER}"))

    Args:
        plan: The decided answer.
        request_headers: The request's headers, lower-cased names.
    """
    if plan.action != "respond":
        return plan
    key = request_headers.get("x-api-key") or request_headers.get("authorization", "").removeprefix("Bearer ")
    values = {API_KEY_PLACEHOLDER: key, API_KEY_TAIL_PLACEHOLDER: _KEY_PREFIX.sub("", key, count=1)}

    def fill(text: str, *, in_json: bool = False) -> str:
        for placeholder, value in values.items():
            text = text.replace(placeholder, json.dumps(value)[1:-1] if in_json else value)
        return text

    headers = tuple((name, fill(value)) for name, value in plan.headers)
    body = fill(plan.body.decode("utf-8"), in_json=True).encode("utf-8")
    return dataclasses.replace(plan, headers=headers, body=body)
