"""One document's extraction as a state machine without I/O, shared by the sync and async loops.

The loop asks :meth:`ExtractionJob.next_step` what to do, does it (read the source, call the
API) and reports back. Every decision lives here: which pages go in which request, what to do
with a truncated, refused or invalid reply, when images must shrink, when the token budget is
spent, and how usage adds up. ``ClaudeBackend.extract`` and ``aextract`` differ only in how they
perform the steps.

Steps (defined in :mod:`invoiceai.backends.claude.steps`):

* ``NeedTextLayers``, ``NeedPdf``: read the source; answer with
  :meth:`~ExtractionJob.provide_text_layers`, :meth:`~ExtractionJob.provide_pdf`.
* ``NeedPages``: pull the next page from ``source.render(budget)`` (one iterator per render
  pass) and answer with :meth:`~ExtractionJob.provide_page`, or with
  :meth:`~ExtractionJob.end_of_pages` once the iterator is exhausted.
* ``SendRequest``: call ``messages.create(**params)`` with transport retries; report each
  HTTP attempt with :meth:`~ExtractionJob.record_attempt`, then the reply with
  :meth:`~ExtractionJob.handle_reply` or the final exception with
  :meth:`~ExtractionJob.handle_failure` (:class:`~invoiceai.backends.claude.call.ApiCall` does).

Pages arrive one at a time and each chunk is sent as soon as its pages are here; what is kept,
re-rendering, the token budget and sources that miscount their pages are described in
:mod:`invoiceai.backends.claude.pagestream`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, NoReturn

from invoiceai.backends.base import BackendResult, T
from invoiceai.backends.claude.api_errors import to_backend_error
from invoiceai.backends.claude.chunking import ChunkPlanner, budget_for_images, merge_parts, pages_per_request
from invoiceai.backends.claude.ledger import JobLedger
from invoiceai.backends.claude.pagestream import PageStream, page_content
from invoiceai.backends.claude.reask import build_reask, larger_max_tokens, reask_allowed, reask_text
from invoiceai.backends.claude.reply import Reply, parse_reply, validate_payload
from invoiceai.backends.claude.request import (
    TOOL_NAME,
    BuiltRequest,
    ChunkInfo,
    InputMode,
    build_request,
    estimate_max_tokens,
    estimate_text_tokens,
    schema_key,
)
from invoiceai.backends.claude.retry import classify
from invoiceai.backends.claude.steps import JobConfig, NeedPages, NeedPdf, NeedTextLayers, SendRequest, Step
from invoiceai.backends.claude.value_pages import ValuePages, asks_value_pages
from invoiceai.errors import (
    EmptyDocumentError,
    ExtractionValidationError,
    RateLimitError,
    RefusalError,
    RequestRejectedError,
    TruncatedOutputError,
)
from invoiceai.secrets import get_logger, mask_text
from invoiceai.usage import Usage

if TYPE_CHECKING:
    from invoiceai.backends.claude.models import ModelState
    from invoiceai.pages import ImageBudget, Page

__all__ = ["ExtractionJob", "JobConfig", "NeedPages", "NeedPdf", "NeedTextLayers", "SendRequest", "Step"]

logger = get_logger("invoiceai.backends")

# The API names an image limit; if re-rendering below it still fails this often, stop.
_MAX_IMAGE_SHRINKS = 3
_PDF_MEDIA_LIMIT_PAGES = 100


@dataclasses.dataclass
class _Turn:
    # The request in flight for the current chunk and what it has been through.
    base: BuiltRequest
    params: dict[str, Any]
    max_tokens: int
    bumped: bool = False
    reasks: int = 0
    last_input_tokens: int = 0


_UNSET: Any = object()


class ExtractionJob(Generic[T]):
    """The decisions of one document's extraction. Not thread-safe: one loop drives it.

    Args:
        config: Model, mode and limits.
        schema: The Pydantic class to fill.
        schema_json: Its API-ready JSON schema.
        document_id: For errors and logs.
        page_count: Pages the source will render.
        state: Where image limits learned at run time are kept.
        validation_context: Passed to ``model_validate``.
    """

    def __init__(
        self,
        *,
        config: JobConfig,
        schema: type[T],
        schema_json: Mapping[str, Any],
        document_id: str | None,
        page_count: int,
        state: ModelState,
        validation_context: Mapping[str, Any] | None = None,
    ) -> None:
        if page_count <= 0:
            raise EmptyDocumentError("The document has no pages to extract.", document_id=document_id)
        self._config = config
        self._schema = schema
        self._schema_json = schema_json
        self._document_id = document_id
        self._page_count = page_count
        self._state = state
        self._context = validation_context
        self._schema_key = schema_key(schema_json)
        self._structured = config.spec.structured_outputs and not state.grammar_refused(config.model, self._schema_key)
        self._mode: InputMode = config.mode
        self._budget = config.image_budget or state.budget(config.model)
        self._texts: list[str | None] | None = None
        self._pdf: bytes | None = _UNSET
        self._stream: PageStream | None = None
        self._page_cap: int | None = None
        self._count_warned = False
        self._chunk = 0
        self._turn: _Turn | None = None
        self._parts: list[T] = []
        self._value_pages = ValuePages(schema_json)  # the page of each value, by chunk (stripped before validation)
        self._ledger = JobLedger(document_id=document_id, model=config.model, prices=config.prices, batch=config.batch)
        self._shrinks = 0
        self._done = False
        if self._mode == "pdf" and not config.spec.pdf_input:
            self._fall_back_to_images(f"{config.model} does not accept PDF input")

    # -- what to do next -------------------------------------------------------------------

    def next_step(self) -> Step | None:
        """Returns the next thing the loop must do, or ``None`` when :meth:`result` is ready."""
        if self._done:
            return None
        if self._mode == "pdf" and self._pdf is _UNSET:
            return NeedPdf()
        if self._mode in ("text", "images+text") and self._texts is None:
            return NeedTextLayers()
        stream = self._stream or self._open_stream()
        if self._turn is None:
            if stream.finished(self._chunk):
                self._done = True
                return None
            if self._mode != "pdf" and not stream.ready(self._chunk):
                return NeedPages(self._render_budget(), stream.render_pass)
            self._turn = self._start_turn(self._chunk)
        return SendRequest(self._turn.params, self._label(), self._turn.base.estimated_input_tokens)

    @property
    def attempts(self) -> int:
        """HTTP attempts made so far."""
        return self._ledger.attempts

    @property
    def usage(self) -> Usage:
        """Tokens, requests and cost of every attempt so far."""
        return self._ledger.usage

    # -- answers from the loop -------------------------------------------------------------

    def provide_text_layers(self, texts: Sequence[str | None]) -> None:
        """Receives ``source.text_layers()``."""
        texts = list(texts)
        if len(texts) != self._page_count:
            self._warn(f"the source gave {len(texts)} text layers for {self._page_count} pages; ignoring them")
            texts = [None] * self._page_count
        self._texts = texts

    def provide_pdf(self, data: bytes | None) -> None:
        """Receives ``source.pdf_bytes()``; falls back to images when it cannot be sent whole."""
        self._pdf = data
        limits = self._config.limits
        if data is None:
            self._fall_back_to_images("the source is not a PDF")
        elif self._page_count > min(_PDF_MEDIA_LIMIT_PAGES, limits.max_images):
            self._fall_back_to_images(f"{self._page_count} pages exceed one PDF request")
        elif 4 * len(data) // 3 > limits.max_request_bytes - limits.reserved_bytes:
            self._fall_back_to_images("the PDF exceeds the 32 MB request limit")

    def provide_page(self, page: Page) -> None:
        """Receives the next page of the current render pass (``next(source.render(budget))``)."""
        stream = self._stream or self._open_stream()
        position = stream.received
        if position >= self._page_count:
            # Believe the pages: the extra ones have no text layer and go in further chunks.
            self._warn_count(f"the source rendered more pages than the {self._page_count} it announced")
            self._page_count = position + 1
        stream.add(*page_content(position, page, "images" if self._mode == "pdf" else self._mode, self._texts))

    def end_of_pages(self) -> None:
        """Receives the end of the current render pass (``source.render(budget)`` is exhausted)."""
        stream = self._stream or self._open_stream()
        if stream.received == 0:
            raise EmptyDocumentError("The document rendered no pages.", document_id=self._document_id)
        if stream.received < self._page_count:
            self._warn_count(f"the source rendered {stream.received} pages, not {self._page_count}")
            self._page_count = stream.received
        stream.end()

    def record_attempt(self, *, request_id: str | None, error: BaseException | None, elapsed: float) -> None:
        """Counts one HTTP attempt (successful or not) and logs it at DEBUG."""
        self._ledger.record_attempt(self._label(), request_id=request_id, error=error, elapsed=elapsed)

    def handle_reply(self, message: Mapping[str, Any]) -> None:
        """Receives a successful reply (``Message.model_dump()``) and decides what follows."""
        turn = self._current_turn()
        reply = parse_reply(message, tool_name=None if self._structured else TOOL_NAME)
        self._ledger.add_reply(self._label(), reply)
        turn.last_input_tokens = reply.input_tokens + reply.cache_read_input_tokens + reply.cache_creation_input_tokens

        if reply.outcome == "refusal":
            because = f": {reply.refusal}" if reply.refusal else ""
            raise RefusalError(
                self._mask(f"Claude declined to extract this document{because}."), **self._ledger.context()
            )
        if reply.outcome == "truncated":
            self._retry_larger(turn, reply)
            return
        if reply.outcome == "context_exceeded":
            self._split_chunk()
            return
        chunk = self._chunks[self._chunk]
        payload = self._value_pages.split(reply.payload, chunk)
        no_json = (None, ["the reply held no JSON object"])
        data, errors = no_json if payload is None else validate_payload(payload, self._schema, context=self._context)
        if data is not None:
            self._parts.append(data)
            self._value_pages.keep(chunk)
            if self._stream is not None:
                self._stream.answered(chunk)  # its pages are not needed again
            self._chunk += 1
            self._turn = None
            return
        self._reask(turn, reply, errors)

    def handle_failure(self, exc: BaseException, *, call_attempts: int) -> None:
        """Receives the exception that ended a call's retries; raises, or schedules a re-render."""
        disposition = classify(exc)
        if disposition == "shrink_images" and self._shrink_images(exc):
            return
        if disposition == "schema_too_complex" and self._structured:
            self._fall_back_to_tool_use()
            return
        error = to_backend_error(
            exc, attempts=call_attempts, document_id=self._document_id, secrets=self._config.secrets
        )
        error.attempts = self._ledger.attempts
        raise error from exc

    def handle_cooldown_overrun(self, seconds: float) -> NoReturn:
        """Raises :class:`RateLimitError`: the backend's 429 cooldown outlasts the call's retry time budget."""
        raise RateLimitError(
            f"The Claude API asked every request to wait {seconds:.1f}s more (retry-after), longer than the "
            "retry time budget allows. Lower concurrency or raise max_retry_seconds.",
            **self._ledger.context(),
        )

    def result(self) -> BackendResult[T]:
        """Returns the merged result once :meth:`next_step` returned ``None``."""
        if not self._done:
            raise RuntimeError("the extraction is not finished")
        result = self._ledger.result(merge_parts(self._parts), chunks=len(self._chunks))
        return dataclasses.replace(result, value_pages=self._value_pages.result(self._parts, self._page_count))

    # -- decisions ---------------------------------------------------------------------------

    def _needs_images(self) -> bool:
        if self._mode == "pdf":
            return False
        if self._mode == "text":
            return self._texts is not None and any(not (text or "").strip() for text in self._texts)
        return True

    def _render_budget(self) -> ImageBudget:
        per_request = min(self._max_pages(), self._page_count)
        return budget_for_images(self._budget, per_request, self._config.limits)

    def _max_pages(self) -> int:
        if self._page_cap is None:
            spec = self._config.spec
            self._page_cap = pages_per_request(self._schema_json, self._config.limits, spec.max_output_tokens)
        return self._page_cap

    @property
    def _chunks(self) -> list[range]:
        return self._stream.chunks if self._stream is not None else []

    def _open_stream(self) -> PageStream:
        # Called once the mode and text layers are settled: they decide what each page sends.
        limits = dataclasses.replace(self._config.limits, max_pages=self._max_pages())
        stream = self._stream = PageStream(ChunkPlanner(self._page_count, limits), self._mode, self._texts)
        if self._mode == "pdf":
            stream.chunks = [range(self._page_count)]  # one document block
            stream.exhausted = True
        elif not self._needs_images():
            stream.complete([page_content(index, None, self._mode, self._texts) for index in range(self._page_count)])
        self._ledger.check_plan(stream, self._config, self._schema_json, self._structured, self._render_budget())
        return stream

    def _start_turn(self, index: int) -> _Turn:
        chunk = self._chunks[index]
        cap = self._config.spec.max_output_tokens
        max_tokens = estimate_max_tokens(self._schema_json, len(chunk), cap=cap)
        info = ChunkInfo(chunk.start + 1, chunk.stop, self._page_count)
        blocks: dict[str, Any] = {"model": self._config.model, "schema": self._schema_json, "max_tokens": max_tokens}
        if self._mode == "pdf" and self._pdf is not _UNSET and self._pdf is not None:
            blocks |= {"pdf": self._pdf, "pdf_pages": self._page_count}
        else:
            blocks |= {"pages": self._stream.contents(chunk) if self._stream is not None else [], "chunk": info}
        built = build_request(structured=self._structured, value_pages=asks_value_pages(chunk), **blocks)
        if index == self._chunk:  # chunks built ahead for a batch round are checked when their turn comes
            self._ledger.check_budget(built.estimated_input_tokens, self._config.token_budget)
        return _Turn(base=built, params=built.params, max_tokens=max_tokens)

    def chunk_ahead(self, offset: int) -> tuple[int, Step] | None:
        """Chunk ``offset`` after this one, as if those before were answered: its index and ``NeedPages`` or request."""
        stream, index = self._stream, self._chunk + offset
        if offset < 1 or self._turn is None or stream is None or self._mode == "pdf" or stream.finished(index):
            return None
        if not stream.ready(index):
            return None if stream.exhausted else (index, NeedPages(self._render_budget(), stream.render_pass))
        built = self._start_turn(index).base
        return index, SendRequest(built.params, self._label(), built.estimated_input_tokens)

    def _retry_larger(self, turn: _Turn, reply: Reply) -> None:
        larger, why = larger_max_tokens(
            turn.max_tokens,
            self._config.spec.max_output_tokens,
            bumped=turn.bumped,
            spent=self._ledger.tokens_spent(),
            next_input=turn.last_input_tokens,
            token_budget=self._config.token_budget,
        )
        if larger is None:
            raise TruncatedOutputError(why, **self._ledger.context())
        turn.bumped = True
        turn.max_tokens = larger
        turn.params = {**turn.params, "max_tokens": larger}
        self._warn(f"reply truncated at max_tokens; retried with max_tokens={larger}")

    def _reask(self, turn: _Turn, reply: Reply, errors: list[str]) -> None:
        follow_up = estimate_text_tokens(reask_text(errors))
        next_tokens = turn.last_input_tokens + 2 * reply.output_tokens + follow_up
        allowed, reason = reask_allowed(
            reasks_done=turn.reasks,
            max_reasks=self._config.max_reasks,
            tokens_spent=self._ledger.tokens_spent(),
            next_request_tokens=next_tokens,
            token_budget=self._config.token_budget,
        )
        if not allowed:
            raise ExtractionValidationError(
                f"Claude's reply did not match {self._schema.__name__}: {reason}.",
                errors=[self._mask(error) for error in errors],
                **self._ledger.context(),
            )
        turn.reasks += 1
        turn.params = build_reask(turn.base.params, reply, errors)
        turn.params["max_tokens"] = turn.max_tokens
        logger.debug("%s: reply failed validation (%d errors); re-asking", self._label(), len(errors))

    def _split_chunk(self) -> None:
        chunks = self._chunks
        chunk = chunks[self._chunk]
        if len(chunk) <= 1 or self._mode == "pdf":
            raise RequestRejectedError(
                "The request exceeded the model's context window; send fewer pages (pages=) or a smaller schema.",
                **self._ledger.context(),
            )
        middle = chunk.start + len(chunk) // 2
        chunks[self._chunk : self._chunk + 1] = [range(chunk.start, middle), range(middle, chunk.stop)]
        self._turn = None
        self._warn(f"pages {chunk.start + 1}-{chunk.stop} exceeded the context window; split into two requests")

    def _shrink_images(self, exc: BaseException) -> bool:
        limit = getattr(getattr(exc, "details", None), "max_side_length_pixels", None)
        stream = self._stream
        if not isinstance(limit, int) or limit <= 0 or stream is None or self._shrinks >= _MAX_IMAGE_SHRINKS:
            return False
        images, largest = stream.image_sides(self._chunk) if self._mode != "pdf" else (0, 0)
        if largest <= limit:
            return False  # no images, or already within the named limit: re-rendering cannot help
        self._shrinks += 1
        if images <= self._config.limits.many_images:
            # Only a limit met by a small request is the model's own; the many-images rule is not.
            self._state.learn_max_side(self._config.model, limit)
        self._budget = self._budget.capped(limit)
        stream.restart()
        self._turn = None
        self._warn(f"the API refused images above {limit} px; re-rendered the pages at {limit} px")
        return True

    def _mask(self, text: str) -> str:
        # Model output is quoted in some messages; a key echoed back must not survive.
        return mask_text(text, self._config.secrets)

    def _current_turn(self) -> _Turn:
        if self._turn is None:
            raise RuntimeError("handle_reply called without a request in flight")
        return self._turn

    def _fall_back_to_tool_use(self) -> None:
        # The API could not compile the schema into a grammar: a forced (non-strict) tool call
        # takes the same schema without one, and a reply that breaks it is re-asked as usual.
        self._structured = False
        self._state.refuse_grammar(self._config.model, self._schema_key)
        self._turn = None
        self._warn(
            "the API could not compile the schema as a structured output; asking through a forced tool call instead"
        )

    def _fall_back_to_images(self, reason: str) -> None:
        self._mode = "images"
        self._pdf = None
        self._warn(f"{reason}; sending page images instead of a PDF")

    def warn(self, message: str) -> None:
        """Adds a warning to the result (and logs it at DEBUG)."""
        self._warn(message)

    def _warn(self, message: str) -> None:
        self._ledger.warn(self._label(), message)

    def _warn_count(self, message: str) -> None:
        if not self._count_warned:
            self._count_warned = True
            self._warn(message + "; sending the pages it rendered")

    def _label(self) -> str:
        document = (self._document_id or "?")[:12]
        stream = self._stream
        total = max(1, len(self._chunks) + (stream.pending if stream is not None and not stream.exhausted else 0))
        label = f"claude doc {document} chunk {min(self._chunk + 1, total)}/{total}"
        if self._turn is not None and self._turn.reasks:
            label += f" reask {self._turn.reasks}"
        return label
