"""What one extraction job has spent and learned: attempts, request ids, usage, warnings.

:class:`~invoiceai.backends.claude.job.ExtractionJob` decides; the ledger keeps the accounts
those decisions read (the token budget) and report (the :class:`~invoiceai.backends.base.BackendResult`
and the context every error carries). Usage counts every request, failed ones included.

The token budget is checked twice. Before anything is rendered or sent, the whole document is
priced from its page count (:func:`plan_cost`: every planned request's estimated input plus its
``max_tokens``, the most its replies can cost), so a document over budget fails with no request
made. Then, before every request after the first, against what was really spent so far (re-asks
and retries are not in the plan).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from invoiceai.backends.base import BackendResult, T, TokenBudgetExceededError
from invoiceai.backends.claude.api_errors import describe_api_error, unreachable
from invoiceai.backends.claude.reply import reply_usage
from invoiceai.secrets import get_logger
from invoiceai.usage import Usage

if TYPE_CHECKING:
    from decimal import Decimal

    from invoiceai.backends.claude.pagestream import PageStream
    from invoiceai.backends.claude.prices import PriceTable
    from invoiceai.backends.claude.reply import Reply
    from invoiceai.backends.claude.request import InputMode
    from invoiceai.backends.claude.steps import JobConfig
    from invoiceai.pages import ImageBudget

__all__ = ["JobLedger", "PlanCost", "plan_cost"]

# Tokens of the small text blocks around each page ("Page 7"), as build_request counts them.
_BLOCK_TOKENS = 10


@dataclasses.dataclass(frozen=True)
class PlanCost:
    """The most a document's planned requests can cost, estimated before any is sent.

    Attributes:
        pages: Pages in the document (its selection).
        requests: Requests planned (one per chunk).
        input_tokens: Their estimated input: each image at the render budget's full area
            (w*h/750), text layers by characters, and the prompt and schema once per request.
        max_output_tokens: Their ``max_tokens`` added up: the most the replies can cost.
    """

    pages: int
    requests: int
    input_tokens: int
    max_output_tokens: int

    @property
    def tokens(self) -> int:
        """Input plus output tokens: what ``token_budget`` is compared with."""
        return self.input_tokens + self.max_output_tokens


def plan_cost(
    *,
    runs: Sequence[int],
    mode: InputMode,
    texts: Sequence[str | None] | None,
    budget: ImageBudget,
    schema_json: Mapping[str, Any],
    structured: bool,
    model: str,
    max_output_tokens: int,
) -> PlanCost:
    """Prices the requests of a document planned as ``runs`` (pages per request, in order).

    Args:
        runs: Pages per request (``pdf`` mode: one run of every page).
        mode: What each page sends.
        texts: The text layers by position (``text`` and ``images+text`` modes), or ``None``.
        budget: The image budget pages are rendered to; every image is counted at its full area,
            so a page that renders smaller only lowers the real cost.
        schema_json: The schema asked for.
        structured: Structured outputs (else a forced tool call).
        model: The model id (it is in the request).
        max_output_tokens: The model's largest ``max_tokens``.
    """
    from invoiceai.backends.claude.request import (
        ChunkInfo,
        build_request,
        estimate_max_tokens,
        estimate_text_tokens,
        image_tokens,
        page_contents,
    )

    pages = sum(runs)
    split = ChunkInfo(2, 3, 4) if len(runs) > 1 else None  # a chunk note, as every request of a split has
    request = functools.partial(build_request, model=model, schema=schema_json, structured=structured, max_tokens=1)
    overhead = {run: request(chunk=split, value_pages=run > 1).estimated_input_tokens for run in set(runs)}
    if mode == "pdf":
        input_tokens = request(pdf=b"", pdf_pages=pages, value_pages=pages > 1).estimated_input_tokens
    else:
        edge = budget.long_edge
        image = image_tokens(edge, max(1, min(edge, budget.max_pixels // edge)))
        contents = page_contents(None, mode, texts) if texts is not None else []
        input_tokens = sum(overhead[run] for run in runs)  # a request of several pages asks for value pages too
        for position in range(pages):
            text = contents[position].text if position < len(contents) else None
            sends_image = mode != "text" or text is None
            input_tokens += _BLOCK_TOKENS + (image + _BLOCK_TOKENS if sends_image else 0)
            if text is not None and mode != "images":
                input_tokens += _BLOCK_TOKENS + estimate_text_tokens(
                    f'<page_text page="{position + 1}">\n{text}\n</page_text>'
                )
    output = sum(estimate_max_tokens(schema_json, run, cap=max_output_tokens) for run in runs)
    return PlanCost(pages=pages, requests=len(runs), input_tokens=input_tokens, max_output_tokens=output)


logger = get_logger("invoiceai.backends")


class JobLedger:
    """The accounts of one job. Not thread-safe.

    Args:
        document_id: The document, for error context.
        model: The model billed.
        prices: Price table for cost.
        batch: Priced as Message Batches (half price).
    """

    def __init__(self, *, document_id: str | None, model: str, prices: PriceTable, batch: bool = False) -> None:
        self.document_id = document_id
        self._model = model
        self._prices = prices
        self._batch = batch
        self.attempts = 0
        self.usage = Usage()
        self.request_ids: list[str] = []
        self.warnings: list[str] = []
        self.reply_model: str | None = None
        self._unpriced_warned = False

    def record_attempt(
        self, label: str, *, request_id: str | None, error: BaseException | None, elapsed: float
    ) -> None:
        """Counts one HTTP attempt (a failed one as a request without tokens) and logs it at DEBUG.

        An attempt that never reached the API (a refused connection, a host that does not resolve)
        is not a request: counting it would make a run against a wrong address report requests.
        """
        self.attempts += 1
        if request_id:
            self.request_ids.append(request_id)
        if error is not None and not unreachable(error):
            self.usage = self.usage + Usage(requests=1)
        outcome = "ok" if error is None else f"failed ({describe_api_error(error)})"
        logger.debug("%s: attempt %d %s request_id=%s in %.2fs", label, self.attempts, outcome, request_id, elapsed)

    def add_reply(self, label: str, reply: Reply) -> None:
        """Adds a successful reply's tokens and cost; warns once when the model has no price."""
        usage, priced = reply_usage(reply, prices=self._prices, model=self._model, batch=self._batch)
        self.usage = self.usage + usage
        if not priced and not self._unpriced_warned:
            self._unpriced_warned = True
            self.warn(label, f"no price known for {self._model}; cost_usd counts 0 (pass prices= to set one)")
        self.reply_model = reply.model or self.reply_model

    def warn(self, label: str, message: str) -> None:
        """Adds a warning to the result (and logs it at DEBUG)."""
        self.warnings.append(message)
        logger.debug("%s: %s", label, message)

    def check_plan(
        self,
        stream: PageStream,
        config: JobConfig,
        schema_json: Mapping[str, Any],
        structured: bool,
        budget: ImageBudget,
    ) -> None:
        """Prices the whole document before anything is rendered or sent (``config.preflight``).

        Raises:
            TokenBudgetExceededError: The planned requests can cost more than ``config.token_budget``;
                nothing was sent.
        """
        if not config.preflight:
            return
        plan = plan_cost(
            runs=stream.planned_runs(), mode=stream.mode, texts=stream.texts, budget=budget, schema_json=schema_json,
            structured=structured, model=self._model, max_output_tokens=config.spec.max_output_tokens,
        )  # fmt: skip
        if plan.tokens <= config.token_budget:
            return
        cost = self._prices.cost(self._model, input_tokens=plan.input_tokens, output_tokens=plan.max_output_tokens,
                                 batch=self._batch)  # fmt: skip
        raise TokenBudgetExceededError(
            f"This document's {plan.pages} pages plan {plan.requests} requests that can spend up to "
            f"{plan.tokens:,} tokens ({plan.input_tokens:,} input, estimated, plus {plan.max_output_tokens:,} "
            f"max_tokens for the replies{_dollars(cost, self._model)}), more than the token budget of "
            f"{config.token_budget:,} per document. Nothing was sent. Raise Settings(token_budget=...) "
            "(INVOICEAI_TOKEN_BUDGET), or select fewer pages with pages=.",
            **self.context(),
        )

    def tokens_spent(self) -> int:
        """Input plus output tokens of every reply so far (what the token budget counts)."""
        return self.usage.total_input_tokens + self.usage.output_tokens

    def check_budget(self, next_tokens: int, token_budget: int) -> None:
        """Raises :class:`TokenBudgetExceededError` if a request of ``next_tokens`` would pass ``token_budget``.

        The first request is not checked here: :meth:`check_plan` priced it with the rest.
        """
        if self.attempts == 0:
            return  # the first request was priced with the whole plan (check_plan)
        spent = self.tokens_spent()
        if spent + next_tokens > token_budget:
            raise TokenBudgetExceededError(
                f"The document's token budget ({token_budget}) is spent ({spent} used) before all of "
                "it was extracted; raise token_budget or send fewer pages.",
                **self.context(),
            )

    def context(self) -> dict[str, Any]:
        """The keyword arguments every error of the job carries: document, attempts, last request id."""
        return {
            "document_id": self.document_id,
            "attempts": self.attempts,
            "request_id": self.request_ids[-1] if self.request_ids else None,
        }

    def result(self, data: T, *, chunks: int) -> BackendResult[T]:
        """Returns the job's result with these accounts."""
        return BackendResult(
            data=data,
            usage=self.usage,
            model=self.reply_model or self._model,
            attempts=self.attempts,
            request_ids=tuple(self.request_ids),
            warnings=tuple(self.warnings),
            chunks=chunks,
        )


def _dollars(cost: Decimal | None, model: str) -> str:
    return "" if cost is None else f"; up to ${cost:,.2f} at {model} prices"
