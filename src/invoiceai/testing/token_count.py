"""The fake API's token-counting endpoint, ``POST /v1/messages/count_tokens``.

It counts a request the way the fake bills a ``/v1/messages`` request (images ``w*h/750``, text
by characters, see :func:`~invoiceai.testing.request_body.estimate_input`), so a test can compare
a dry run's counts with what the same requests are billed. Like the real endpoint it takes a
Messages request without ``max_tokens`` and answers ``{"input_tokens": n}``.
"""

from __future__ import annotations

from typing import Any

from invoiceai.testing.plans import Plan, error_plan
from invoiceai.testing.request_body import estimate_input, json_bytes

__all__ = ["COUNT_TOKENS_PATH", "count_tokens_plan"]

COUNT_TOKENS_PATH = "/v1/messages/count_tokens"


def count_tokens_plan(body: Any, request_id: str) -> Plan:
    """Returns the answer to one token-counting request (a 400 for a body the real API refuses)."""
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body.get("model"):
        return error_plan(400, "invalid_request_error", "model and messages are required", request_id)
    if "max_tokens" in body:
        return error_plan(400, "invalid_request_error", "max_tokens: Extra inputs are not permitted", request_id)
    _, total = estimate_input(body)
    return Plan("respond", 200, (("request-id", request_id),), json_bytes({"input_tokens": total}))
