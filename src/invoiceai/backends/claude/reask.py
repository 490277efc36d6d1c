"""The follow-up request sent when a reply does not validate. Pure.

A re-ask is the original request plus two turns: the failed reply, and a user turn listing only
the validation errors. It is always built from the original request and the latest failed reply,
so however many re-asks a document needs, each one is the same size as the first: the history
never grows and cost stays linear. Whether a re-ask may be sent at all is decided by
:func:`reask_allowed`, which holds the count and the per-document token budget.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from typing import Any

from invoiceai.backends.claude.reply import Reply
from invoiceai.backends.claude.request import TOOL_NAME

__all__ = ["build_reask", "larger_max_tokens", "reask_allowed", "reask_text"]


def reask_text(errors: Sequence[str]) -> str:
    """Returns the user turn that explains what was wrong with the previous reply."""
    listed = "\n".join(f"- {line}" for line in errors) or "- the reply was not valid JSON for the schema"
    return (
        "Your previous reply did not match the schema. These fields failed validation:\n"
        f"{listed}\n"
        "Reply again with the complete corrected object. Keep every value that was right, fix only "
        "these fields, and use null where the document does not show a valid value."
    )


def build_reask(base: Mapping[str, Any], failed: Reply, errors: Sequence[str]) -> dict[str, Any]:
    """Returns a new request: ``base`` plus the failed reply and its validation errors.

    Args:
        base: The original request's ``messages.create`` arguments (not modified).
        failed: The reply that failed validation.
        errors: The validation errors, as produced by :func:`invoiceai.backends.claude.reply.format_errors`.
    """
    params = copy.copy(dict(base))
    original = list(base["messages"])[:1]  # the document turn only, never earlier re-asks
    text = reask_text(errors)
    if "tools" in base and failed.tool_use_id is not None:
        try:
            tool_input = json.loads(failed.payload or "{}")
        except ValueError:
            tool_input = {}
        assistant: list[dict[str, Any]] = [
            {"type": "tool_use", "id": failed.tool_use_id, "name": TOOL_NAME, "input": tool_input}
        ]
        follow_up: list[dict[str, Any]] = [
            {"type": "tool_result", "tool_use_id": failed.tool_use_id, "is_error": True, "content": text}
        ]
    else:
        assistant = [{"type": "text", "text": failed.payload or "{}"}]
        follow_up = [{"type": "text", "text": text}]
    params["messages"] = [
        *original,
        {"role": "assistant", "content": assistant},
        {"role": "user", "content": follow_up},
    ]
    return params


def reask_allowed(
    *,
    reasks_done: int,
    max_reasks: int,
    tokens_spent: int,
    next_request_tokens: int,
    token_budget: int,
) -> tuple[bool, str]:
    """Decides whether another re-ask may be sent.

    Args:
        reasks_done: Re-asks already sent for this request.
        max_reasks: The limit (``Settings.max_reasks``).
        tokens_spent: Input plus output tokens the document has used so far.
        next_request_tokens: Estimated tokens of the re-ask (its input plus expected output).
        token_budget: The document's limit (``Settings.token_budget``).

    Returns:
        ``(allowed, reason)``; the reason says why not, for the error message.
    """
    if reasks_done >= max_reasks:
        return False, f"no valid reply after {max_reasks} re-ask{'s' if max_reasks != 1 else ''}"
    if tokens_spent + next_request_tokens > token_budget:
        return False, (
            f"a re-ask (about {next_request_tokens} tokens) would exceed the document's token budget "
            f"({tokens_spent} of {token_budget} spent)"
        )
    return True, ""


def larger_max_tokens(
    current: int, cap: int, *, bumped: bool, spent: int, next_input: int, token_budget: int
) -> tuple[int | None, str]:
    """Returns the ``max_tokens`` to retry a truncated reply with, or ``None`` and why not.

    A truncated reply is retried once, with twice the budget (at least 4096 more), within the
    model's cap and the document's token budget.
    """
    if bumped or current >= cap:
        return None, (
            f"The reply was cut off at max_tokens={current} even after a retry with a larger budget; "
            "split the document (pages=) or use a schema with fewer fields."
        )
    larger = min(cap, max(current * 2, current + 4096))
    if spent + next_input + larger > token_budget:
        return None, (
            f"The reply was cut off at max_tokens={current}, and a larger retry would exceed the "
            f"document's token budget ({spent} of {token_budget} spent)."
        )
    return larger, ""
