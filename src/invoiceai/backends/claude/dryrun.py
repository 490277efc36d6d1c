"""Dry runs: the requests a live extraction would send, counted and priced, and never sent.

A dry run drives the very :class:`~invoiceai.backends.claude.job.ExtractionJob` a live
extraction drives, so the requests it counts are the ones :meth:`ClaudeBackend.extract` would
send (same chunks, same images, same prompt and schema). Where the live loop calls
``messages.create``, the dry run counts the request's input tokens and answers it with a
stand-in reply that lets the job move on to the next chunk. The job validates that reply
against :class:`StandInAnswer`, which accepts anything: the real schema is only sent.

Counting is local by default (images ``w*h/750``, text by characters; the estimate the job made
when it built the request) or done by a counter: the API's free token-counting endpoint
(``client.messages.count_tokens``), or any callable.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from invoiceai.backends.claude.request import TOOL_NAME
from invoiceai.backends.claude.steps import SendRequest, SourceReader

if TYPE_CHECKING:
    from invoiceai.backends.claude.job import ExtractionJob
    from invoiceai.backends.claude.prices import PriceTable

__all__ = [
    "CostEstimate",
    "EstimateMethod",
    "RequestEstimate",
    "StandInAnswer",
    "TokenCounter",
    "count_params",
    "run_dry",
    "summarise",
]

EstimateMethod = Literal["local", "count_tokens", "custom"]
"""How input tokens were counted: locally, by the API's ``count_tokens`` endpoint, or by a callable."""

TokenCounter = Callable[[Mapping[str, Any]], int]
"""Counts the input tokens of one request, given its ``messages.create`` keyword arguments."""


class StandInAnswer(BaseModel):
    """What a dry run's stand-in replies are validated as: any JSON object."""

    model_config = ConfigDict(extra="allow")


@dataclasses.dataclass(frozen=True)
class RequestEstimate:
    """One request a fault-free live extraction sends.

    Attributes:
        input_tokens: Its input tokens (prompt, schema, pages), counted as :attr:`CostEstimate.method` says.
        max_output_tokens: Its ``max_tokens``: the most output it can be billed for.
        images: Image blocks it carries.
    """

    input_tokens: int
    max_output_tokens: int
    images: int


@dataclasses.dataclass(frozen=True)
class CostEstimate:
    """What one document would cost, from the requests a live extraction would send.

    Re-asks, truncation retries and transient retries are not included: each adds a request.
    Prompt caching is not counted either: live, the static prefix (system prompt and schema) of
    every request after the first is read from the cache at a tenth of the price, so the live
    cost is usually lower.

    Attributes:
        model: The model the requests are for.
        pages: Pages the requests carry.
        requests: Each request, in order.
        method: How input tokens were counted (``local`` is an estimate).
        cost_usd: Input tokens at the input price plus the output upper bound at the output
            price, live; ``None`` when the model has no price.
        batch_cost_usd: The same through the Message Batches API (half price).
        warnings: What the live run would also say (fallbacks, no price, the token budget).
    """

    model: str
    pages: int
    requests: tuple[RequestEstimate, ...]
    method: EstimateMethod
    cost_usd: Decimal | None
    batch_cost_usd: Decimal | None
    warnings: tuple[str, ...] = ()

    @property
    def input_tokens(self) -> int:
        """Input tokens of every request."""
        return sum(request.input_tokens for request in self.requests)

    @property
    def max_output_tokens(self) -> int:
        """The most output tokens the requests can be billed for (their ``max_tokens``)."""
        return sum(request.max_output_tokens for request in self.requests)


def count_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Returns the keyword arguments of ``messages.count_tokens`` for a ``messages.create`` request.

    The endpoint takes the same request without ``max_tokens``.
    """
    return {key: value for key, value in params.items() if key != "max_tokens"}


def run_dry(
    job: ExtractionJob[Any], reader: SourceReader, counter: TokenCounter | None = None
) -> list[RequestEstimate]:
    """Drives ``job`` to its end without sending anything; returns the requests it would send.

    Args:
        job: A job whose schema is :class:`StandInAnswer` (its ``schema_json`` is the real one).
        reader: Reads the source for the job (closed here when done).
        counter: Counts each request's input tokens; ``None`` takes the job's own estimate.
    """
    estimates: list[RequestEstimate] = []
    try:
        while (step := job.next_step()) is not None:
            if not isinstance(step, SendRequest):
                reader.read(job, step)
                continue
            tokens = step.estimated_input_tokens if counter is None else counter(step.params)
            images = sum(1 for block in _content(step.params) if block.get("type") == "image")
            estimates.append(RequestEstimate(tokens, int(step.params["max_tokens"]), images))
            job.handle_reply(_stand_in_reply(step.params))
    finally:
        reader.close()
    return estimates


def summarise(
    requests: list[RequestEstimate],
    *,
    model: str,
    pages: int,
    method: EstimateMethod,
    prices: PriceTable,
    token_budget: int,
    warnings: tuple[str, ...] = (),
) -> CostEstimate:
    """Prices the requests of a dry run, live and batched, and says what the live run would warn about."""
    input_tokens = sum(request.input_tokens for request in requests)
    output_tokens = sum(request.max_output_tokens for request in requests)
    live = prices.cost(model, input_tokens=input_tokens, output_tokens=output_tokens)
    batch = prices.cost(model, input_tokens=input_tokens, output_tokens=output_tokens, batch=True)
    notes = list(warnings)
    if input_tokens + output_tokens > token_budget:
        notes.append(
            f"up to {input_tokens + output_tokens} tokens may exceed the document's token budget "
            f"({token_budget}); the live run stops at the request that would pass it"
        )
    return CostEstimate(model, pages, tuple(requests), method, live, batch, tuple(dict.fromkeys(notes)))


def _content(params: Mapping[str, Any]) -> list[dict[str, Any]]:
    messages = params.get("messages") or [{}]
    content = messages[0].get("content")
    return [block for block in content if isinstance(block, dict)] if isinstance(content, list) else []


def _stand_in_reply(params: Mapping[str, Any]) -> dict[str, Any]:
    # The shape of a successful reply in the request's output mode, with an empty object as the
    # answer and no tokens (nothing was spent, so the job's token budget is never touched).
    if "tools" in params:
        content: list[dict[str, Any]] = [{"type": "tool_use", "id": "toolu_dry_run", "name": TOOL_NAME, "input": {}}]
        stop_reason = "tool_use"
    else:
        content, stop_reason = [{"type": "text", "text": "{}"}], "end_turn"
    return {"content": content, "stop_reason": stop_reason, "usage": {"input_tokens": 0, "output_tokens": 0}}
