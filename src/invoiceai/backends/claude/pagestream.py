"""The pages of one document as they arrive from the renderer, cut into requests. Pure: no I/O.

A job does not wait for the whole document: the loop pulls pages from ``source.render(budget)``
one at a time and hands each to the job, which adds it here. A chunk is ready to send as soon as
its last page has arrived (:class:`~invoiceai.backends.claude.chunking.ChunkPlanner` decides
where chunks end, exactly as :func:`~invoiceai.backends.claude.chunking.plan_chunks` would for
the whole document), so the first request of a 500-page PDF leaves after its first 20 pages.

What is kept. Only the pages of chunks not yet answered: the chunk in flight (a re-ask, a
truncation retry or a split of that chunk needs its pages again, and an oversized-image
rejection looks at their sizes) and the pages rendered since. Once a chunk is answered its pages
are dropped, so memory holds about one request's pages whatever the document's length.

Re-rendering. When the API refuses the images as too large, the job starts a new render pass
with a smaller budget (:meth:`PageStream.restart`). The renderer yields pages from the first
one again; pages of chunks already answered are skipped as they arrive (their answers stand),
chunks already decided keep their pages, and the chunk still being formed is planned again with
the new, smaller sizes.

The token budget. The job checks it before every request against that request's estimate, as
it always did; what is new is that a document whose budget runs out stops before the request
that would overrun it *without rendering its later pages*. A whole-document estimate up front
would need every page rendered first, which is what this module avoids.

Miscounted pages. A source that renders a different number of pages than its ``page_count`` is
believed as the pages arrive, with a warning: extra pages go, without text layers, in further
chunks of the per-request cap; a source that stops early has its last chunk cut short. Chunks
already sent stand (their text layers were paired with pages by position, as always).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

from invoiceai.backends.claude.request import page_contents

if TYPE_CHECKING:
    from invoiceai.backends.claude.chunking import ChunkPlanner
    from invoiceai.backends.claude.request import InputMode, PageContent
    from invoiceai.pages import Page

__all__ = ["PageStream", "page_content"]


def page_content(
    position: int, page: Page | None, mode: InputMode, texts: Sequence[str | None] | None
) -> tuple[PageContent, int]:
    """Returns what the page at ``position`` sends under ``mode``, and the bytes it adds to a request.

    Args:
        position: 0-based position in the selection (``Page 1`` is position 0).
        page: The rendered page, or ``None`` when only its text layer is sent.
        mode: ``images``, ``images+text`` or ``text``.
        texts: The text layers by position, or ``None`` when not read; a position past their
            end has none.
    """
    layers = None if texts is None else [texts[position] if position < len(texts) else None]
    content = page_contents(None if page is None else [page], mode, layers)[0]
    content = dataclasses.replace(content, number=position + 1)
    size = len(content.image.data) if content.image is not None else 0
    return content, size + (len(content.text.encode()) if content.text is not None else 0)


class PageStream:
    """What has arrived of one document's pages and which chunks are decided. Not thread-safe.

    Args:
        planner: Decides where chunks end; fed one page size at a time.
        mode: What each page sends (``images``, ``images+text``, ``text`` or ``pdf``); read by
            the plan's price (:meth:`~invoiceai.backends.claude.ledger.JobLedger.check_plan`).
        texts: The text layers by position, or ``None`` when not read.

    Attributes:
        chunks: The decided chunks, in order (the job may split one in two).
        render_pass: Counts render passes; the loop starts a new ``source.render`` when it changes.
        received: Pages received in the current pass (the next page's position).
        exhausted: The current pass has yielded its last page.
    """

    def __init__(
        self, planner: ChunkPlanner, mode: InputMode = "images", texts: Sequence[str | None] | None = None
    ) -> None:
        self._planner = planner
        self.mode: InputMode = mode
        self.texts = texts
        self._contents: dict[int, PageContent] = {}
        self._keep_from = 0
        self.chunks: list[range] = []
        self.render_pass = 0
        self.received = 0
        self.exhausted = False

    @property
    def pending(self) -> int:
        """Chunks planned but not decided yet (for log labels)."""
        return self._planner.pending()

    def add(self, content: PageContent, size: int) -> None:
        """Adds the next page of the current pass and the size it adds to a request."""
        position = self.received
        self.received += 1
        if position < self._keep_from:
            return  # a re-rendered page of a chunk already answered
        self._contents[position] = content
        if position >= self._planner.fed:
            self.chunks.extend(self._planner.feed(size))

    def end(self) -> None:
        """The current pass has no more pages: closes the chunk being formed."""
        self.exhausted = True
        self.chunks.extend(self._planner.finish())
        if self.chunks and self.chunks[-1].stop > self.received:
            # A re-render yielded fewer pages than the first pass: keep what exists.
            kept = [chunk for chunk in self.chunks if chunk.start < self.received]
            if kept:
                kept[-1] = range(kept[-1].start, min(kept[-1].stop, self.received))
            self.chunks = kept

    def planned_runs(self) -> list[int]:
        """Pages per request for the whole document: the chunks decided, then the runs still planned."""
        decided = [len(chunk) for chunk in self.chunks]
        return decided if self.exhausted else decided + self._planner.runs_left()

    def ready(self, index: int) -> bool:
        """Tells whether chunk ``index`` is decided and all its pages are here."""
        if index >= len(self.chunks):
            return False
        return all(position in self._contents for position in self.chunks[index])

    def image_sides(self, index: int) -> tuple[int, int]:
        """Returns how many images ready chunk ``index`` sends and the longest side among them."""
        if not self.ready(index):
            return 0, 0
        images = [content.image for content in self.contents(self.chunks[index]) if content.image is not None]
        return len(images), max((max(image.width, image.height) for image in images), default=0)

    def finished(self, index: int) -> bool:
        """Tells whether chunk ``index`` is past the last chunk the document will have."""
        return self.exhausted and index >= len(self.chunks)

    def contents(self, chunk: range) -> list[PageContent]:
        """Returns the contents of a ready chunk, in page order."""
        return [self._contents[position] for position in chunk]

    def answered(self, chunk: range) -> None:
        """Drops the pages of an answered chunk (and any before it)."""
        self._keep_from = max(self._keep_from, chunk.stop)
        for position in [position for position in self._contents if position < self._keep_from]:
            del self._contents[position]

    def restart(self) -> None:
        """Starts a new render pass from the first page (the pages must be re-rendered smaller)."""
        self.render_pass += 1
        self.received = 0
        self.exhausted = False
        self._contents.clear()
        self._planner.rewind()

    def complete(self, contents: list[tuple[PageContent, int]]) -> None:
        """Adds every page at once and ends the pass (text layers only, nothing to render)."""
        for content, size in contents:
            self.add(content, size)
        self.end()
