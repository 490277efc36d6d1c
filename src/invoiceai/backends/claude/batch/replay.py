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

Chunks sent ahead. A long document's chunks do not depend on each other's answers, so when the
job needs a request, the later chunks' first requests go into the same round
(:meth:`~invoiceai.backends.claude.job.ExtractionJob.chunk_ahead`, the job's own chunk plan):
a three-chunk document takes one round, not three. They are stored apart (by chunk, not by
request number, since re-asks shift the numbers) and used when the job reaches the chunk: the
very same request (same digest), or else the first request of the same chunk (by its index in
the chunk plan). The second rule keeps answers paid for when the request is rebuilt a little
differently, e.g. by a newer invoiceai whose prompt changed between submit and collect (the
result then warns, as for any request rebuilt differently). Once the job has re-planned (split a
chunk after the context window, re-rendered smaller images, fallen back to a tool call), chunk
indices no longer line up with the ones sent ahead, and only the digest counts. While the token
budget would not cover them all, the chunks beyond it wait for their turn, as live. An answer
got ahead that the job never uses (the document failed first) was paid for all the same: its
usage is added to the result's.

Live attempts. A follow-up sent as a live request (``collect_batch(follow_up="live")``) is
stored like a batch item and marked live; its reply is priced at the live rate (the job prices
every reply at the batch rate; the difference is added). It went with the SDK's own retries,
so a failed live attempt is final.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from invoiceai.backends.claude.api_errors import charged_errors
from invoiceai.backends.claude.batch.items import item_error, params_digest, retryable
from invoiceai.backends.claude.steps import NeedPages, SendRequest, SourceReader
from invoiceai.errors import InvoiceAIError
from invoiceai.usage import Usage

if TYPE_CHECKING:
    from invoiceai.backends.base import BackendResult
    from invoiceai.backends.claude.job import ExtractionJob

__all__ = ["Attempt", "Finished", "Outcome", "Pricing", "Submit", "Waiting", "replay"]

Pricing = Callable[[Mapping[str, Any], bool], Usage]
"""The usage of one stored result at the live (``True``) or batch (``False``) price."""


@dataclasses.dataclass(frozen=True)
class Attempt:
    """One submitted attempt of a request, as the job's store knows it.

    Attributes:
        custom_id: The item's id in its batch.
        digest: :func:`~invoiceai.backends.claude.batch.items.params_digest` of what was sent.
        result: The item's result object (``{"type": "succeeded", "message": ...}``...), or
            ``None`` while its batch has not ended.
        live: Sent as a live request (a follow-up with ``follow_up="live"``), not in a batch.
    """

    custom_id: str
    digest: str
    result: Mapping[str, Any] | None
    live: bool = False


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
    """Request ``sequence`` needs attempt ``attempt``: send ``params`` in the next round.

    Attributes:
        ahead: A chunk's first request sent ahead: ``sequence`` is then the chunk's index.
        also: The later chunks' first requests, to send beside this one (``ahead`` each).
    """

    sequence: int
    attempt: int
    params: dict[str, Any] = dataclasses.field(repr=False)
    ahead: bool = False
    also: tuple[Submit, ...] = ()


Outcome = Finished | Waiting | Submit


@dataclasses.dataclass
class _Replay:
    # What one replay has used of the stored attempts, and what it spent beyond the job's ledger.
    ahead: Mapping[int, Sequence[Attempt]]
    unused: set[int]
    pricing: Pricing | None
    extra: Usage = dataclasses.field(default_factory=Usage)
    replanned: bool = False  # the job changed its plan (split, smaller images...): match by digest only

    def leftover(self) -> Usage:
        """The usage of answers got ahead that the job never reached (paid for all the same)."""
        total = Usage()
        for chunk in self.unused:
            for attempt in self.ahead[chunk]:
                if attempt.result is not None:
                    total = total + self.usage_of(attempt, live=attempt.live)
        return total

    def running(self) -> Waiting | None:
        """An answer got ahead, never used, still in a running batch (the result must wait to count it)."""
        for chunk in sorted(self.unused):
            for attempt in self.ahead[chunk]:
                if attempt.result is None:
                    return Waiting(chunk, attempt.custom_id)
        return None

    def usage_of(self, attempt: Attempt, *, live: bool) -> Usage:
        assert attempt.result is not None
        if attempt.result.get("type") != "succeeded" or self.pricing is None:
            return Usage(requests=1)
        return self.pricing(attempt.result, live)


def replay(
    job: ExtractionJob[Any],
    reader: SourceReader,
    attempts_of: Callable[[int], Sequence[Attempt]],
    *,
    max_attempts: int,
    secrets: tuple[str, ...] = (),
    ahead: Mapping[int, Sequence[Attempt]] | None = None,
    pricing: Pricing | None = None,
    token_budget: int | None = None,
) -> Outcome:
    """Drives ``job`` with the stored answers until it is finished or needs an answer not stored yet.

    Args:
        job: A new job for the document (built with ``batch=True`` pricing).
        reader: Reads the document's pages for the job; closed by the caller.
        attempts_of: The stored attempts of request number ``sequence``, oldest first.
        max_attempts: Attempts per request (``Settings.max_attempts``), as live.
        secrets: Literal values to mask from errors (the API key).
        ahead: The stored attempts of the chunks sent ahead, by chunk index.
        pricing: Prices stored results (live attempts, answers got ahead and never used);
            without it those are counted as requests without tokens.
        token_budget: The document's token budget; chunks are sent ahead only within it.

    Raises:
        InvoiceAIError: The document failed as it would have live (a refusal, a reply that never
            validated, a non-retryable error...); ``usage`` counts every answered attempt.
    """
    state = _Replay(ahead or {}, {chunk for chunk, attempts in (ahead or {}).items() if attempts}, pricing)
    try:
        with charged_errors(job, secrets):
            sequence = 0
            while (step := job.next_step()) is not None:
                if not isinstance(step, SendRequest):
                    reader.read(job, step)
                    continue
                outcome = _request(job, step, sequence, attempts_of(sequence), max_attempts, state)
                if isinstance(outcome, Submit):
                    also = _look_ahead(job, reader, step, state.ahead, token_budget)
                    return dataclasses.replace(outcome, also=also)
                if outcome is not None:
                    return outcome
                sequence += 1
            result = job.result()
    except InvoiceAIError as exc:
        if (running := state.running()) is not None:
            return running  # its cost is not known yet: the document's result waits for it
        exc.usage = (exc.usage or Usage()) + state.extra + state.leftover()
        raise
    if (running := state.running()) is not None:
        return running
    return Finished(dataclasses.replace(result, usage=result.usage + state.extra + state.leftover()))


def _request(
    job: ExtractionJob[Any], step: SendRequest, sequence: int, attempts: Sequence[Attempt], max_attempts: int,
    state: _Replay,
) -> Waiting | Submit | None:  # fmt: skip
    """Answers one request from its stored attempts, or from those of its chunk sent ahead."""
    if not attempts and state.unused:
        chunk = _sent_ahead(job, step, state)
        if chunk is not None:
            state.unused.discard(chunk)
            return _answer(job, step, chunk, state.ahead[chunk], max_attempts, state, ahead=True)
    return _answer(job, step, sequence, attempts, max_attempts, state, ahead=False)


def _sent_ahead(job: ExtractionJob[Any], step: SendRequest, state: _Replay) -> int | None:
    """The chunk sent ahead that ``step`` is: the same request, or the first request of that chunk."""
    digest = params_digest(step.params)
    for chunk in sorted(state.unused):
        if state.ahead[chunk][0].digest == digest:
            return chunk
    if state.replanned:
        return None
    # Chunks are worked through in order, so every chunk sent ahead and not used yet lies at or
    # after the current one; the smallest is the current chunk exactly when this is its first
    # request (a re-ask of a chunk comes after the chunk's own answer was used).
    candidate = min(state.unused)
    peek = job.chunk_ahead(1)
    current = candidate if peek is None else peek[0] - 1  # none after it: this is the plan's last chunk
    return candidate if candidate == current else None


def _answer(
    job: ExtractionJob[Any], step: SendRequest, sequence: int, attempts: Sequence[Attempt], max_attempts: int,
    state: _Replay, *, ahead: bool,
) -> Waiting | Submit | None:  # fmt: skip
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
            if attempt.live:
                job.warn(f"request {sequence + 1} was sent live (follow_up='live'), at the live price")
            if attempt.live and state.pricing is not None:
                # The job priced the reply at the batch rate; a live request costs the live one.
                surcharge = state.pricing(result, True).cost_usd - state.pricing(result, False).cost_usd
                state.extra = state.extra + Usage(cost_usd=surcharge)
            return None
        if result.get("unreadable"):
            job.warn(f"the batch result of request {sequence + 1}, attempt {number}, could not be read; sent again")
        error = item_error(result)
        job.record_attempt(request_id=None, error=error, elapsed=0.0)
        if number < len(attempts):
            continue  # this failure was already retried
        if retryable(error) and number < max_attempts and not attempt.live:
            return Submit(sequence, number + 1, step.params, ahead=ahead)
        job.handle_failure(error, call_attempts=number)  # raises, or re-plans (smaller images...)
        state.replanned = True
        return None
    return Submit(sequence, 1, step.params, ahead=ahead)


def _look_ahead(
    job: ExtractionJob[Any], reader: SourceReader, step: SendRequest, sent: Mapping[int, Sequence[Attempt]],
    token_budget: int | None,
) -> tuple[Submit, ...]:  # fmt: skip
    """The first requests of the later chunks not sent yet, within the token budget."""
    usage = job.usage
    spent = usage.total_input_tokens + usage.output_tokens + _tokens(step)
    found: list[Submit] = []
    offset = 1
    while (peek := job.chunk_ahead(offset)) is not None:
        index, ahead = peek
        if isinstance(ahead, NeedPages):
            reader.read(job, ahead)  # the chunk's pages are still to come
            continue
        offset += 1
        if sent.get(index):
            continue
        assert isinstance(ahead, SendRequest)
        spent += _tokens(ahead)
        if token_budget is not None and spent > token_budget:
            break  # the chunks past the budget wait for their turn, as live
        found.append(Submit(index, 1, ahead.params, ahead=True))
    return tuple(found)


def _tokens(step: SendRequest) -> int:
    return step.estimated_input_tokens + int(step.params.get("max_tokens") or 0)
