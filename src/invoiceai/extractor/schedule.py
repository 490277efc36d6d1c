"""The decisions of a batch, with no I/O: what to start, which copy pays, what to report.

The sync and async runners in :mod:`invoiceai.extractor.batch` only carry out what
:class:`Schedule` decides, so both behave the same by construction.

A document moves through three stages: ``LOAD`` (read the bytes), ``PREPARE`` (e-invoice, pages,
cache lookup, warming) and ``REQUEST`` (the backend call and completing the result).
``concurrency`` is the number of ``REQUEST`` stages at once: requests in flight. Loading and
preparing run ahead of them in a look-ahead of at most ``concurrency`` documents, so a slot that
frees finds a prepared document waiting, and memory stays flat however long the input is.
Preparing is CPU work (pdfium is serialised, Python holds the GIL), so only a few documents are
prepared at once, oldest first: the first request starts after one document is ready, not after
``concurrency`` documents were rendered side by side.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import os
from collections.abc import Iterable, Iterator, Sized
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel

from invoiceai.extractor.pipeline import Clock
from invoiceai.extractor.progress import ProgressArg, make_progress
from invoiceai.extractor.result import Extraction, ExtractionFailure

if TYPE_CHECKING:
    from invoiceai.documents import Document, Source
    from invoiceai.extractor.pipeline import Prepared

__all__ = ["BatchItem", "DuplicateTable", "Schedule", "Stage", "Ticket"]

T = TypeVar("T", bound=BaseModel)

Result = Extraction[Any] | ExtractionFailure

STREAM_MEMORY = 1024
"""Finished results a streaming batch remembers for later copies of the same document."""

MAX_PREPARING = 4
"""Documents prepared at once, at most (and no more than the machine's cores, or ``concurrency``)."""


@dataclasses.dataclass(frozen=True)
class BatchItem(Generic[T]):
    """One result of :meth:`~invoiceai.Extractor.iter_extract`, with the position of its source.

    Attributes:
        index: 0-based position of the source in the input.
        result: The :class:`~invoiceai.Extraction`, or an :class:`~invoiceai.ExtractionFailure`.
    """

    index: int
    result: Extraction[T] | ExtractionFailure

    @property
    def ok(self) -> bool:
        """``True`` when the document was extracted."""
        return self.result.ok


class Stage(enum.Enum):
    """What a runner does for a :class:`Ticket`."""

    LOAD = "load"
    PREPARE = "prepare"
    REQUEST = "request"


@dataclasses.dataclass(eq=False)
class Ticket:
    """One source of the batch on its way through the stages."""

    index: int
    source: Source | None
    clock: Clock
    document: Document | None = None
    prepared: Prepared | None = None
    name: str = ""


class DuplicateTable:
    """Content id -> the one copy of a document that is extracted, and the copies waiting for it.

    The first copy of a document to finish loading owns it; later copies wait and get the
    owner's result (a success or an :class:`~invoiceai.ExtractionFailure`), relabelled with their
    own source name. The cancellation rule, the same for sync and async: when the owner ends
    with a ``BaseException`` (Ctrl-C, cancellation, ``SystemExit``), the whole batch ends with
    that exception and its waiting copies report nothing.

    Args:
        remember: How many finished results to keep for copies that arrive after their owner
            finished (``None``: all of them, as ``extract_many`` holds every result anyway).
            A copy arriving later than that is extracted again, which the cache makes free.
    """

    def __init__(self, remember: int | None) -> None:
        self._remember = remember
        self._waiting: dict[str, list[Ticket]] = {}
        self._finished: collections.OrderedDict[str, Result] = collections.OrderedDict()

    def claim(self, document_id: str, ticket: Ticket) -> bool | Result:
        """``True``: ``ticket`` owns the document; ``False``: it waits; a result: already known."""
        finished = self._finished.get(document_id)
        if finished is not None:
            self._finished.move_to_end(document_id)
            return finished
        waiting = self._waiting.get(document_id)
        if waiting is None:
            self._waiting[document_id] = []
            return True
        waiting.append(ticket)
        return False

    def resolve(self, document_id: str, result: Result) -> list[Ticket]:
        """Records the owner's ``result``; returns the copies that waited for it."""
        waiting = self._waiting.pop(document_id, [])
        if self._remember is None or self._remember > 0:
            self._finished[document_id] = result
            if self._remember is not None and len(self._finished) > self._remember:
                self._finished.popitem(last=False)
        return waiting


def relabel(result: Result, name: str) -> Result:
    """The shared ``result``, labelled with a copy's own source name."""
    return dataclasses.replace(result, source=name)


class Schedule:
    """Decides, one event at a time, what a batch runner starts and which results it reports.

    Not thread-safe: one runner loop calls it. :meth:`start` returns the work to begin now;
    :meth:`finish` takes a stage's outcome and returns the results to report, in the order they
    became known (having called ``progress`` and applied ``raise_on_error`` for each).
    """

    def __init__(
        self,
        sources: Iterable[Source],
        *,
        concurrency: int,
        progress: ProgressArg,
        raise_on_error: bool,
        remember: int | None,
    ) -> None:
        self._sources: Iterator[tuple[int, Source]] = enumerate(sources)
        self._known_total = len(sources) if isinstance(sources, Sized) else None
        self._slots = max(1, concurrency)
        self._look_ahead = max(1, concurrency)
        self._preparers = max(1, min(self._slots, MAX_PREPARING, max(2, os.cpu_count() or 2)))
        self._read = 0
        self._exhausted = False
        self._ahead = 0  # loading, loaded, preparing, or prepared and waiting for a slot
        self._preparing = 0
        self._in_flight = 0
        self._loaded: collections.deque[Ticket] = collections.deque()
        self._ready: collections.deque[Ticket] = collections.deque()
        self._raise_on_error = raise_on_error
        self._advance = make_progress(progress, self._known_total)
        self.table = DuplicateTable(remember)

    def start(self) -> list[tuple[Stage, Ticket]]:
        """The stages to begin now: free slots filled, documents prepared, new sources read."""
        work: list[tuple[Stage, Ticket]] = []
        while self._in_flight < self._slots and self._ready:
            self._in_flight += 1
            self._ahead -= 1
            work.append((Stage.REQUEST, self._ready.popleft()))
        while self._preparing < self._preparers and self._loaded:
            self._preparing += 1
            work.append((Stage.PREPARE, self._loaded.popleft()))
        while not self._exhausted and self._ahead < self._look_ahead:
            try:
                index, source = next(self._sources)
            except StopIteration:
                self._exhausted = True
                break
            self._read += 1
            self._ahead += 1
            work.append((Stage.LOAD, Ticket(index, source, Clock())))
        return work

    def finish(self, stage: Stage, ticket: Ticket, outcome: object) -> list[BatchItem[Any]]:
        """Takes what ``stage`` produced for ``ticket``; returns the results now known."""
        if stage is Stage.REQUEST:
            self._in_flight -= 1
            assert isinstance(outcome, (Extraction, ExtractionFailure))
            return self._owner_done(ticket, outcome)
        if stage is Stage.PREPARE:
            self._preparing -= 1
            return self._prepared(ticket, outcome)
        if isinstance(outcome, ExtractionFailure):
            self._ahead -= 1  # it never loaded: no content id, nothing to share
            return self._report([BatchItem(ticket.index, outcome)])
        return self._on_load(ticket, outcome)

    def _on_load(self, ticket: Ticket, document: Any) -> list[BatchItem[Any]]:
        claim = self.table.claim(document.document_id, ticket)
        if claim is True:
            ticket.document, ticket.source = document, None
            self._loaded.append(ticket)
            return []
        self._ahead -= 1
        # A copy keeps only its name while it waits, not the document's bytes.
        ticket.name, ticket.source = document.name, None
        if claim is False:
            return []
        assert isinstance(claim, (Extraction, ExtractionFailure))
        return self._report([BatchItem(ticket.index, relabel(claim, ticket.name))])

    def _prepared(self, ticket: Ticket, prepared: Any) -> list[BatchItem[Any]]:
        if isinstance(prepared, ExtractionFailure) or prepared.result is not None:
            self._ahead -= 1
            return self._owner_done(ticket, prepared if isinstance(prepared, ExtractionFailure) else prepared.result)
        ticket.prepared = prepared
        self._ready.append(ticket)
        return []

    def _owner_done(self, ticket: Ticket, result: Result) -> list[BatchItem[Any]]:
        assert ticket.document is not None
        copies = self.table.resolve(ticket.document.document_id, result)
        ticket.document = ticket.prepared = None  # let the bytes and pages go
        items = [BatchItem(ticket.index, result)]
        items.extend(BatchItem(copy.index, relabel(result, copy.name)) for copy in copies)
        return self._report(items)

    def _report(self, items: list[BatchItem[Any]]) -> list[BatchItem[Any]]:
        for item in items:
            if self._advance is not None:
                # Without len(sources) the total is what was read so far; final once exhausted.
                known = self._known_total is not None or self._exhausted
                self._advance(item.ok, self._known_total or self._read, known)
            if self._raise_on_error and isinstance(item.result, ExtractionFailure):
                raise item.result.error
        return items
