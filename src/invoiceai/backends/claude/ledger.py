"""What one extraction job has spent and learned: attempts, request ids, usage, warnings.

:class:`~invoiceai.backends.claude.job.ExtractionJob` decides; the ledger keeps the accounts
those decisions read (the token budget) and report (the :class:`~invoiceai.backends.base.BackendResult`
and the context every error carries). Usage counts every request, failed ones included.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from invoiceai.backends.base import BackendResult, T, TokenBudgetExceededError
from invoiceai.backends.claude.api_errors import describe_api_error
from invoiceai.backends.claude.reply import reply_usage
from invoiceai.secrets import get_logger
from invoiceai.usage import Usage

if TYPE_CHECKING:
    from invoiceai.backends.claude.prices import PriceTable
    from invoiceai.backends.claude.reply import Reply

__all__ = ["JobLedger"]

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
        """Counts one HTTP attempt (a failed one as a request without tokens) and logs it at DEBUG."""
        self.attempts += 1
        if request_id:
            self.request_ids.append(request_id)
        if error is not None:
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

    def tokens_spent(self) -> int:
        """Input plus output tokens of every reply so far (what the token budget counts)."""
        return self.usage.total_input_tokens + self.usage.output_tokens

    def check_budget(self, next_tokens: int, token_budget: int) -> None:
        """Raises :class:`TokenBudgetExceededError` if a request of ``next_tokens`` would pass ``token_budget``."""
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
