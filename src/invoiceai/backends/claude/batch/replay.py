"""One document's extraction through the Message Batches API: the live job, fed stored answers.

The :class:`~invoiceai.backends.claude.job.ExtractionJob` that decides a live extraction decides a
batched one too. It is deterministic: given the same pages and the same replies it asks for the
same requests in the same order. So a batched document keeps no state of its own beyond the
replies it got: :func:`replay` builds the job afresh, reads the pages, and answers request number
*n* with the stored result of request *n*, until it reaches a request that has no answer yet.
That request is either in a batch still running (:class:`Waiting`) or not sent yet
(:class:`Submit`: the next round sends it). Re-asks, a larger ``max_tokens`` after a truncation,
a split after the context window, smaller images after an oversized one: each is just the next
request of the job, answered in a later round.

Failed items follow the live rules: ``errored`` items that a live call would retry, and
``expired`` or ``canceled`` ones, are sent again (a new attempt with its own custom id) until
``max_attempts``; anything else goes to the job's ``handle_failure`` as the live exception.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from invoiceai.backends.claude.api_errors import charged_errors
from invoiceai.backends.claude.batch.items import item_error, params_digest, retryable
from invoiceai.backends.claude.steps import SendRequest, SourceReader

if TYPE_CHECKING:
    from invoiceai.backends.base import BackendResult
    from invoiceai.backends.claude.job import ExtractionJob

__all__ = ["Attempt", "Finished", "Outcome", "Submit", "Waiting", "replay"]


@dataclasses.dataclass(frozen=True)
class Attempt:
    """One submitted attempt of a request, as the job's store knows it.

    Attributes:
        custom_id: The item's id in its batch.
        digest: :func:`~invoiceai.backends.claude.batch.items.params_digest` of what was sent.
        result: The item's result object (``{"type": "succeeded", "message": ...}``...), or
            ``None`` while its batch has not ended.
    """

    custom_id: str
    digest: str
    result: Mapping[str, Any] | None


@dataclasses.dataclass(frozen=True)
class Finished:
    """Every request is answered: the job's result."""

    result: BackendResult[Any]


@dataclasses.dataclass(frozen=True)
class Waiting:
    """Request ``sequence`` is in a batch that has not ended."""

    sequence: int
    custom_id: str


@dataclasses.dataclass(frozen=True)
class Submit:
    """Request ``sequence`` needs attempt ``attempt``: send ``params`` in the next round."""

    sequence: int
    attempt: int
    params: dict[str, Any] = dataclasses.field(repr=False)


Outcome = Finished | Waiting | Submit


def replay(
    job: ExtractionJob[Any],
    reader: SourceReader,
    attempts_of: Callable[[int], Sequence[Attempt]],
    *,
    max_attempts: int,
    secrets: tuple[str, ...] = (),
) -> Outcome:
    """Drives ``job`` with the stored answers until it is finished or needs an answer not stored yet.

    Args:
        job: A new job for the document (built with ``batch=True`` pricing).
        reader: Reads the document's pages for the job; closed by the caller.
        attempts_of: The stored attempts of request number ``sequence``, oldest first.
        max_attempts: Attempts per request (``Settings.max_attempts``), as live.
        secrets: Literal values to mask from errors (the API key).

    Raises:
        InvoiceAIError: The document failed as it would have live (a refusal, a reply that never
            validated, a non-retryable error...); ``usage`` counts every answered attempt.
    """
    with charged_errors(job, secrets):
        sequence = 0
        while (step := job.next_step()) is not None:
            if not isinstance(step, SendRequest):
                reader.read(job, step)
                continue
            outcome = _answer(job, step, sequence, attempts_of(sequence), max_attempts)
            if outcome is not None:
                return outcome
            sequence += 1
        return Finished(job.result())


def _answer(
    job: ExtractionJob[Any], step: SendRequest, sequence: int, attempts: Sequence[Attempt], max_attempts: int
) -> Waiting | Submit | None:
    """Feeds the job the stored attempts of one request; ``None`` once the job has moved past it."""
    if attempts and attempts[-1].digest != params_digest(step.params):
        # Rendering changed between processes (another library version, say): the stored reply
        # still answers these pages, so it is used, but the result says so.
        job.warn(f"request {sequence + 1} was rebuilt differently from the one sent in the batch; used its answer")
    for number, attempt in enumerate(attempts, start=1):
        result = attempt.result
        if result is None:
            return Waiting(sequence, attempt.custom_id)
        if result.get("type") == "succeeded":
            message = result.get("message")
            job.record_attempt(request_id=None, error=None, elapsed=0.0)
            job.handle_reply(message if isinstance(message, Mapping) else {})
            return None
        if result.get("unreadable"):
            job.warn(f"the batch result of request {sequence + 1}, attempt {number}, could not be read; sent again")
        error = item_error(result)
        job.record_attempt(request_id=None, error=error, elapsed=0.0)
        if number < len(attempts):
            continue  # this failure was already retried
        if retryable(error) and number < max_attempts:
            return Submit(sequence, number + 1, step.params)
        job.handle_failure(error, call_attempts=number)  # raises, or re-plans (smaller images...)
        return None
    return Submit(sequence, 1, step.params)
