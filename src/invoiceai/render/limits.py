"""The limits every renderer enforces before it pays for a document: pages, bytes, pixels, time.

:class:`RenderLimits` gathers the renderer's share of :class:`~invoiceai.config.Settings`
(``max_pages``, ``max_stream_bytes``, ``max_attachment_bytes``, ``max_render_bytes``,
``max_image_pixels``, ``render_timeout``, ``render_memory_limit``); its defaults are the settings'
defaults, so a renderer built without settings behaves as one built from ``Settings()``. :class:`Deadline` meters the
time one document spends inside the renderer.

Every limit raises a :class:`~invoiceai.errors.DocumentTooLargeError` subclass whose message
names the limit, the value found and the setting, and whose ``setting``, ``limit`` and ``found``
attributes say the same to code.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from invoiceai.config import Settings
from invoiceai.errors import ConfigurationError, RenderTimeoutError, RenderTooLargeError, TooManyPagesError

if TYPE_CHECKING:
    from invoiceai.render.selection import PageSelection

__all__ = ["Deadline", "RenderLimits", "check_render_bytes", "select_pages"]

# The settings' defaults, read from the dataclass (building a Settings would touch the home directory).
_DEFAULTS: dict[str, Any] = {field.name: field.default for field in dataclasses.fields(Settings)}
T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class RenderLimits:
    """What one document may cost a renderer (see :class:`~invoiceai.config.Settings` for each).

    Attributes:
        max_pages: Most pages or frames selected.
        max_stream_bytes: Most bytes one PDF stream may inflate to.
        max_attachment_bytes: Most bytes one PDF attachment may decode to.
        max_render_bytes: Most bytes one page's bitmap may take.
        max_image_pixels: Most pixels one image (file frame or image inside a PDF) may have.
        render_timeout: Seconds spent opening and rendering one document.
        render_memory_limit: Address space of the child process that opens and renders PDFs
            (``0``: no child, PDFs are opened in this process).
        clock: The monotonic clock the deadline reads (tests inject one).
    """

    max_pages: int = _DEFAULTS["max_pages"]
    max_stream_bytes: int = _DEFAULTS["max_stream_bytes"]
    max_attachment_bytes: int = _DEFAULTS["max_attachment_bytes"]
    max_render_bytes: int = _DEFAULTS["max_render_bytes"]
    max_image_pixels: int = _DEFAULTS["max_image_pixels"]
    render_timeout: float = _DEFAULTS["render_timeout"]
    render_memory_limit: int = _DEFAULTS["render_memory_limit"]
    clock: Callable[[], float] = dataclasses.field(default=time.monotonic, compare=False, repr=False)

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name == "render_memory_limit" and value >= 0:
                continue
            if field.name != "clock" and not value > 0:
                raise ConfigurationError(f"RenderLimits({field.name}=...) must be positive, got {value!r}.")

    @classmethod
    def from_settings(cls, settings: Settings | None) -> RenderLimits:
        """Returns the limits of ``settings`` (``Settings.load()``, the environment included, when ``None``)."""
        settings = settings if settings is not None else Settings.load()
        names = [field.name for field in dataclasses.fields(cls) if field.name != "clock"]
        return cls(**{name: getattr(settings, name) for name in names})

    def deadline(self) -> Deadline:
        """Starts the time budget of one document."""
        return Deadline(self.render_timeout, clock=self.clock)

    def numbers(self) -> dict[str, float]:
        """Returns the limits without the clock (what a sandbox worker is sent)."""
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self) if field.name != "clock"}


class Deadline:
    """The time one document may spend inside the renderer, spent a piece at a time.

    Only time inside the renderer counts (opening, scanning, rendering each page): a backend that
    pulls pages lazily and sends requests between them does not spend it. Safe to share between
    the threads of one document.

    Args:
        seconds: The budget.
        clock: A monotonic clock.
    """

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._spent = 0.0
        self._running: dict[int, float] = {}
        self._lock = threading.Lock()

    @property
    def spent(self) -> float:
        """Seconds spent so far, counting any piece still running."""
        now = self._clock()
        with self._lock:
            return self._spent + sum(now - started for started in self._running.values())

    def check(self, *, document_id: str | None = None, page: int | None = None) -> None:
        """Raises once the budget is spent.

        Raises:
            RenderTimeoutError: More than ``seconds`` have been spent.
        """
        spent = self.spent
        if spent > self.seconds:
            raise self.expired(document_id=document_id, page=page, spent=spent)

    def expired(
        self, *, document_id: str | None = None, page: int | None = None, spent: float | None = None
    ) -> RenderTimeoutError:
        """Returns the error for a spent budget (raised by :meth:`check`, or by a caller that stopped waiting)."""
        spent = max(self.spent if spent is None else spent, self.seconds)
        return RenderTimeoutError(
            f"Opening and rendering the document took {spent:.1f} s, more than the render_timeout of "
            f"{self.seconds:g} s; it is too large or too complex. Raise Settings(render_timeout=...) "
            "(INVOICEAI_RENDER_TIMEOUT) if it is trusted, or select fewer pages with pages=.",
            setting="render_timeout",
            limit=self.seconds,
            found=round(spent, 3),
            document_id=document_id,
            page=page,
        )

    def remaining(self) -> float:
        """Seconds left (never below zero)."""
        return max(0.0, self.seconds - self.spent)

    def metered(self, pages: Iterator[T], *, document_id: str | None = None) -> Iterator[T]:
        """Yields from ``pages``, spending the time each item takes and checking between items.

        Raises:
            RenderTimeoutError: The budget ran out (checked before and after each item).
        """
        while True:
            self.check(document_id=document_id)
            with self.spending():
                try:
                    item = next(pages)
                except StopIteration:
                    return
            self.check(document_id=document_id)
            yield item

    def spending(self) -> _Spending:
        """A context manager that spends the time its block takes."""
        return _Spending(self)

    def _start(self, token: int) -> None:
        with self._lock:
            self._running[token] = self._clock()

    def _stop(self, token: int, *, excluding: float = 0.0) -> None:
        now = self._clock()
        with self._lock:
            started = self._running.pop(token, None)
            if started is not None:
                self._spent += max(0.0, now - started - excluding)


class _Spending:
    def __init__(self, deadline: Deadline) -> None:
        self._deadline = deadline
        self._waited = 0.0

    def __enter__(self) -> None:
        from invoiceai.render.pdf.lock import PDFIUM_LOCK

        self._waited = PDFIUM_LOCK.waited()
        self._deadline._start(id(self))

    def __exit__(self, *exc_info: object) -> None:
        from invoiceai.render.pdf.lock import PDFIUM_LOCK

        # Time spent queueing for pdfium behind other documents is not this document's work.
        self._deadline._stop(id(self), excluding=PDFIUM_LOCK.waited() - self._waited)


def select_pages(
    selection: PageSelection, total: int, limits: RenderLimits, *, document_id: str, unit: str = "page"
) -> tuple[int, ...]:
    """Resolves ``selection`` against ``total`` pages (or frames) and enforces ``max_pages`` on it.

    Only the selected pages count: ``pages="1"`` of a 10,000-frame TIFF is one frame.

    Returns:
        The selected 0-based indices.

    Raises:
        PageSelectionError: The selection is past the end.
        TooManyPagesError: More than ``limits.max_pages`` are selected.
    """
    indices = selection.resolve(total, document_id=document_id)
    selected = len(indices)
    if selected <= limits.max_pages:
        return indices
    chosen = "" if selection.text == "all" else f" of the {total} (pages={selection.text!r})"
    raise TooManyPagesError(
        f"The document has {selected} {unit}s selected{chosen}, more than the max_pages limit of "
        f"{limits.max_pages}; select some with pages=, or raise Settings(max_pages=...) (INVOICEAI_MAX_PAGES).",
        setting="max_pages",
        limit=limits.max_pages,
        found=selected,
        document_id=document_id,
    )


def check_render_bytes(width: int, height: int, limits: RenderLimits, *, document_id: str, page: int) -> None:
    """Refuses a page bitmap of ``width`` x ``height`` 4-byte pixels above ``limits.max_render_bytes``.

    Raises:
        RenderTooLargeError: The bitmap would be too large.
    """
    needed = width * height * 4
    if needed <= limits.max_render_bytes:
        return
    raise RenderTooLargeError(
        f"Page {page} would render to {width}x{height} pixels ({needed:,} bytes), more than the max_render_bytes "
        f"limit of {limits.max_render_bytes:,}; ask for a smaller ImageBudget, or raise "
        "Settings(max_render_bytes=...) (INVOICEAI_MAX_RENDER_BYTES).",
        setting="max_render_bytes",
        limit=limits.max_render_bytes,
        found=needed,
        document_id=document_id,
        page=page,
    )
