"""Page sources that count what they render, for the start-early tests (issue 10)."""

from __future__ import annotations

import functools
import io
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from invoiceai.pages import ImageBudget, Page, PageSource
from invoiceai.testing import RecordedRequest


class CountingSource:
    """Wraps a page source; counts the pages its renders have yielded and the renders closed.

    Attributes:
        rendered: Pages yielded so far, over every render pass.
        budgets: The budget of each render pass.
        closed: Render passes that ended (exhausted, closed, or dropped).
        seen: ``(rendered, alive)`` when each request arrived (see :meth:`on_request`).
    """

    def __init__(self, inner: PageSource) -> None:
        self.inner = inner
        self.rendered = 0
        self.budgets: list[ImageBudget] = []
        self.closed = 0
        self.seen: list[tuple[int, int]] = []

    @property
    def document_id(self) -> str:
        return self.inner.document_id

    @property
    def page_count(self) -> int:
        return self.inner.page_count

    @property
    def alive(self) -> int:
        return -1  # the wrapped source's pages cannot be tracked

    def render(self, budget: ImageBudget) -> Iterator[Page]:
        self.budgets.append(budget)
        try:
            for page in self.inner.render(budget):
                self.rendered += 1
                yield page
        finally:
            self.closed += 1

    def text_layers(self) -> list[str | None]:
        return self.inner.text_layers()

    def pdf_bytes(self) -> bytes | None:
        return self.inner.pdf_bytes()

    def on_request(self, request: RecordedRequest) -> None:
        """For ``FakeClaudeAPI(on_request=...)``: notes how far rendering was when a request arrived."""
        if request.path.endswith("/v1/messages"):
            self.seen.append((self.rendered, self.alive))


class _Tracked(bytes):
    # Page bytes that tell their source when they are freed: the pages a backend still holds.
    owner: SyntheticPages

    def __del__(self) -> None:
        with self.owner.lock:
            self.owner.live -= 1


@functools.lru_cache(maxsize=64)
def _png(width: int, height: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (width, height), 255).save(buffer, format="PNG")
    return buffer.getvalue()


class SyntheticPages(CountingSource):
    """A page source of blank pages that counts renders and the pages still alive anywhere.

    Args:
        sizes: Each page's full size in pixels (fitted into the budget when rendered).
        padding: Bytes appended to each page's PNG, to give pages chosen payload sizes.
        announced: The ``page_count`` reported; defaults to ``len(sizes)``.
    """

    def __init__(
        self,
        sizes: Sequence[tuple[int, int]],
        *,
        padding: Sequence[int] | None = None,
        announced: int | None = None,
    ) -> None:
        super().__init__(self)
        self._sizes = list(sizes)
        self._padding = list(padding) if padding is not None else [0] * len(self._sizes)
        self._announced = len(self._sizes) if announced is None else announced
        self.lock = threading.Lock()
        self.live = 0

    @classmethod
    def blank(cls, count: int, size: tuple[int, int] = (120, 160), **options: Any) -> SyntheticPages:
        return cls([size] * count, **options)

    @property
    def document_id(self) -> str:
        return f"synthetic-{len(self._sizes)}"

    @property
    def page_count(self) -> int:
        return self._announced

    @property
    def alive(self) -> int:
        with self.lock:
            return self.live

    def render(self, budget: ImageBudget) -> Iterator[Page]:
        self.budgets.append(budget)
        try:
            for index, (width, height) in enumerate(self._sizes):
                fitted = budget.fit(width, height)
                data = _Tracked(_png(*fitted) + b"\0" * self._padding[index])
                data.owner = self
                with self.lock:
                    self.live += 1
                self.rendered += 1
                yield Page(index, fitted[0], fitted[1], "image/png", data)
                del data
        finally:
            self.closed += 1

    def text_layers(self) -> list[str | None]:
        return [None] * self._announced

    def pdf_bytes(self) -> bytes | None:
        return None


def pages_answer(last_page: int) -> Any:
    """An answer for ``FakeClaudeAPI``: one line item per page sent, header on page 1, total on the last."""

    def answer(request: RecordedRequest) -> dict[str, object]:
        pages = request_pages(request)
        reply: dict[str, object] = {"line_items": [{"description": f"page {page}"} for page in pages]}
        if pages[0] == 1:
            reply |= {"invoice_number": "LONG-1", "seller": {"name": "ACME"}}
        if pages[-1] == last_page:
            reply |= {"total": "99.00"}
        return reply

    return answer


def request_pages(request: RecordedRequest) -> list[int]:
    """The 1-based page numbers a request carries.

    Several pages: its ``Pages 4-6, in order.`` note. One page has no note: the chunk note's
    page when the document was split, else page 1.
    """
    import re

    texts = request.texts()
    for text in texts:
        if (span := re.fullmatch(r"Pages (\d+)-(\d+), in order\.", text)) is not None:
            return list(range(int(span[1]), int(span[2]) + 1))
        if (listed := re.fullmatch(r"Pages ([\d, ]+), in order\.", text)) is not None:
            return [int(number) for number in listed[1].split(", ")]
    for text in texts:
        if (chunk := re.search(r"holds pages (\d+) to (\d+) of", text)) is not None:
            return list(range(int(chunk[1]), int(chunk[2]) + 1))
    return [1]
