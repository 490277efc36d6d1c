"""Warming a document's pages ahead of its backend call, so request slots never wait on a render.

The batch engine prepares documents while others are in flight. Part of preparing is *warming*:
reading from the page source now what the backend will read from it later (rendered pages at
the backend's image budget, by default), into a :class:`WarmPageSource` that serves them again
when the backend asks.

A backend can say what to warm with an optional method, found with ``getattr``::

    class MyBackend:
        def prepare(self, source: PageSource) -> None:
            source.text_layers()  # text-only mode: no images needed

``prepare`` runs in a worker thread before the document takes a request slot; whatever it reads
from ``source`` (``render(budget)``, ``text_layers()``, ``pdf_bytes()``) is kept and served to
``extract``/``aextract``. Without the method, the pages are rendered at ``image_budget()``, but
only for a document of at most :data:`WARM_PAGES` pages: a longer one would be held in memory
whole, where the backend can stream it page by page.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from invoiceai.extractor.steps import WrappedPageSource

if TYPE_CHECKING:
    from invoiceai.backends.base import Backend
    from invoiceai.pages import ImageBudget, Page, PageSource

__all__ = ["WARM_PAGES", "WarmPageSource", "warm"]

WARM_PAGES = 20
"""Most pages warmed for a backend without ``prepare`` (one request's worth: the API's many-images line)."""


class WarmPageSource(WrappedPageSource):
    """A :class:`~invoiceai.pages.PageSource` that keeps what was read from it while warming.

    Pages rendered while warming are served again for the same budget; any other budget (a
    backend shrinking its images after an oversized-image error) is rendered live by the inner
    source. Text layers and PDF bytes are read at most once.
    """

    def __init__(self, inner: PageSource) -> None:
        super().__init__(inner)
        self._pages: dict[ImageBudget, tuple[Page, ...]] = {}
        self._texts: list[str | None] | None = None
        self._pdf: tuple[bytes | None] | None = None
        self._recording = False

    @contextmanager
    def warming(self) -> Iterator[WarmPageSource]:
        """Inside the block, pages rendered are kept for later calls with the same budget."""
        self._recording = True
        try:
            yield self
        finally:
            self._recording = False

    @property
    def warmed(self) -> tuple[ImageBudget, ...]:
        """The budgets whose pages are held."""
        return tuple(self._pages)

    def render(self, budget: ImageBudget) -> Iterator[Page]:
        """Yields the warmed pages for ``budget``, or renders them (and keeps them while warming)."""
        kept = self._pages.get(budget)
        if kept is not None:
            yield from kept
        elif self._recording:
            self._pages[budget] = kept = tuple(self.inner.render(budget))
            yield from kept
        else:
            yield from self.inner.render(budget)

    def text_layers(self) -> list[str | None]:
        """See :class:`~invoiceai.pages.PageSource`; read once."""
        if self._texts is None:
            self._texts = self.inner.text_layers()
        return list(self._texts)

    def pdf_bytes(self) -> bytes | None:
        """See :class:`~invoiceai.pages.PageSource`; read once."""
        if self._pdf is None:
            self._pdf = (self.inner.pdf_bytes(),)
        return self._pdf[0]


def warm(backend: Backend, source: WarmPageSource) -> None:
    """Reads from ``source`` now what ``backend`` will read later (see the module docstring)."""
    hook = getattr(backend, "prepare", None)
    with source.warming():
        if callable(hook):
            hook(source)
        elif source.page_count <= WARM_PAGES:
            for _ in source.render(backend.image_budget()):
                pass
