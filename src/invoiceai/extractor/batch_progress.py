"""What a Message Batches job reports: :class:`BatchJob` (where it stands) and :class:`BatchProgress` (one look)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Literal

from invoiceai.extractor.result import Extraction, ExtractionFailure
from invoiceai.usage import Usage

if TYPE_CHECKING:
    from invoiceai.extractor.batch_state import JobState

__all__ = ["BatchJob", "BatchProgress", "Result"]

Result = Extraction[Any] | ExtractionFailure


@dataclasses.dataclass(frozen=True)
class BatchJob:
    """A Message Batches job as its store describes it (no results; see :meth:`~invoiceai.Extractor.collect_batch`).

    Attributes:
        id: The job id, for :meth:`~invoiceai.Extractor.collect_batch` and ``invoiceai batch collect``.
        created_at: When it was submitted (ISO 8601, UTC).
        model: The model.
        documents: Documents in the job, e-invoices and cached ones included.
        sent: Documents that needed the model (the others never reach a batch).
        rounds: Rounds submitted so far (follow-ups for re-asks, retries and later chunks).
        batches: Message Batches created so far, over every round.
        requests: Batch items submitted so far (each attempt counts).
        answered: Items whose results are stored.
        state: ``"in_progress"`` while a batch runs; ``"ended"`` when every batch has ended (a
            collect then finishes the job, or submits a follow-up round).
    """

    id: str
    created_at: str
    model: str
    documents: int
    sent: int
    rounds: int
    batches: int
    requests: int
    answered: int
    state: Literal["in_progress", "ended"]

    @classmethod
    def of(cls, state: JobState, *, running: int | None = None) -> BatchJob:
        """Summarises a job's stored state.

        Args:
            state: What the store holds.
            running: Batches the API says are still running (``None``: every batch whose
                results are not stored counts as running). A round whose create went
                unanswered counts as running until a look finds out what became of it.
        """
        running = len(state.open_batches()) if running is None else running
        running += len(state.unresolved())  # a create whose answer was lost: its batch may be running
        return cls(
            id=state.meta.id, created_at=state.meta.created_at, model=state.meta.model,
            documents=state.meta.documents, sent=len({record.document for record in state.requests.values()}),
            rounds=state.rounds(), batches=len(state.batches), requests=len(state.requests),
            answered=sum(1 for key in state.requests if key in state.results),
            state="in_progress" if running else "ended",
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """Returns the fields as a JSON-ready dict."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class BatchProgress:
    """What one look at a job found: the results known so far, in input order.

    Attributes:
        job: The job after this look (new rounds included).
        results: One entry per document, in input order: its result, or ``None`` while a request
            of it is in a batch that has not ended.
        live_usage: The part of the job's usage spent on follow-ups sent live
            (``follow_up="live"``), at the live price; the rest went through batches at the
            batch price. Each document's ``usage`` already counts both.
    """

    job: BatchJob
    results: tuple[Result | None, ...]
    live_usage: Usage = dataclasses.field(default_factory=Usage)

    @property
    def finished(self) -> bool:
        """Every document has its result."""
        return all(result is not None for result in self.results)

    @property
    def usage(self) -> Usage:
        """Tokens, requests and cost of the results known so far (batch price, live follow-ups at the live one)."""
        total = Usage()
        for result in self.results:
            if result is not None:
                total = total + result.usage
        return total
