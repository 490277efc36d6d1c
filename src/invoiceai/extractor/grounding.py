"""Provenance for one extraction: the pages' words, grounding, confidence and review.

:func:`attach_provenance` runs when an :class:`~invoiceai.Extraction` of an Invoice-like schema
is complete, while its document is still open: it reads the word layer of every page (the PDF
text layer through the sandbox, or OCR for pages without one when the ``ocr`` extra is there),
grounds every value (:func:`invoiceai.provenance.ground_invoice`), adds the ``IAI-UNGROUNDED``
findings and applies the review policy. The pipeline calls it; it imports nothing of the
pipeline's.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from invoiceai.errors import InvoiceAIError
from invoiceai.extractor.result import Extraction
from invoiceai.extractor.steps import selected_pages
from invoiceai.pages import ImageBudget
from invoiceai.provenance import PageWords, ReviewPolicy, ground_invoice, review
from invoiceai.schema.invoice import Invoice

if TYPE_CHECKING:
    from invoiceai.config import Settings
    from invoiceai.pages import PageSource
    from invoiceai.render.pdf.words import RawWord

__all__ = ["attach_provenance", "check_ocr_setting", "read_word_layers"]


def check_ocr_setting(settings: Settings) -> None:
    """Fails early, before any cost, when ``Settings.ocr`` is ``on`` and OCR is not installed.

    Raises:
        MissingDependencyError: pytesseract or the tesseract program is missing.
    """
    if settings.ocr == "on":
        from invoiceai.render.ocr import require_ocr

        require_ocr()


def attach_provenance(
    result: Extraction[Any],
    source: PageSource | None,
    settings: Settings,
    policy: ReviewPolicy | None,
    *,
    embedded: bool,
    value_pages: Mapping[str, int] | None = None,
) -> Extraction[Any]:
    """Returns ``result`` with provenance, ``IAI-UNGROUNDED`` findings and its review.

    Args:
        result: The finished extraction.
        source: Its open pages (``None`` for an XML e-invoice, or a PDF answered by its XML alone).
        settings: ``provenance``, ``ocr`` and ``ocr_languages`` decide what is read.
        policy: The review policy (default :class:`~invoiceai.provenance.ReviewPolicy`).
        embedded: The data is an e-invoice's XML.
        value_pages: The model's page of each value (:attr:`~invoiceai.backends.base.BackendResult.value_pages`:
            1-based positions among the selected pages), checked by grounding.
    """
    if not settings.provenance or not isinstance(result.data, Invoice):
        return result
    warnings = list(result.warnings)
    started = time.perf_counter()
    layers = read_word_layers(source, settings, warnings) if source is not None else []
    reading = time.perf_counter() - started
    # An e-invoice's values are the XML's, not the model's answer that the pages were named for.
    named = value_pages if value_pages and source is not None and not embedded else None
    pages = _document_pages(named, selected_pages(source)) if named and source is not None else None
    grounded = ground_invoice(result.data, layers, result.findings, embedded=embedded, model_pages=pages)
    findings = (*result.findings, *grounded.findings)
    timings = dataclasses.replace(
        result.timings,
        render=result.timings.render + reading,
        validate=result.timings.validate + time.perf_counter() - started - reading,
    )
    return dataclasses.replace(
        result,
        findings=findings,
        provenance=grounded.provenance,
        review=review(grounded.provenance, findings, policy),
        warnings=tuple(warnings),
        timings=timings,
    )


def read_word_layers(source: PageSource, settings: Settings, warnings: list[str]) -> list[PageWords]:
    """The word layer of each selected page: the PDF text layer, else OCR (when allowed and installed).

    A failure to read words never fails the extraction: it becomes a warning, and the pages
    concerned get page-level provenance only.

    Raises:
        MissingDependencyError: ``ocr="on"`` and OCR is not installed.
    """
    numbers = selected_pages(source)
    raw: list[list[RawWord] | None] = [None] * len(numbers)
    reader = getattr(_innermost(source), "word_layers", None)
    if callable(reader):
        try:
            found = reader()
            if isinstance(found, list) and len(found) == len(numbers):
                raw = found
        except InvoiceAIError as exc:
            warnings.append(f"the pages' words could not be read ({exc.message}); provenance is page-level only")
    layers = [PageWords.from_raw(number, words, "text") for number, words in zip(numbers, raw, strict=True)]
    missing = [position for position, words in enumerate(raw) if not words]
    if missing and settings.ocr != "off":
        from invoiceai.render.ocr import ocr_available, require_ocr

        if settings.ocr == "on":
            require_ocr()
        if ocr_available():
            _ocr(source, settings, numbers, missing, layers, warnings)
    return layers


def _ocr(
    source: PageSource,
    settings: Settings,
    numbers: Sequence[int],
    missing: list[int],
    layers: list[PageWords],
    warnings: list[str],
) -> None:
    """OCRs the pages at ``missing`` positions, each on its own, all within one ``render_timeout``.

    Only those pages are rendered when the source can narrow its selection (a PDF); a page that
    fails, or the time running out, leaves the pages concerned with page-level provenance.
    """
    from invoiceai.render.ocr import OCR_BUDGET_EDGE, OCR_BUDGET_PIXELS, ocr_words

    budget = ImageBudget(max_long_edge=OCR_BUDGET_EDGE, max_pixels=OCR_BUDGET_PIXELS, max_bytes=64 * 1024 * 1024)
    wanted = {numbers[position]: position for position in missing}
    until = time.monotonic() + settings.render_timeout
    failed: list[str] = []
    try:
        for page in _pages_for_ocr(source, sorted(wanted), len(numbers)).render(budget):
            position = wanted.pop(page.number, None)
            if position is None:
                continue
            left = until - time.monotonic()
            if left <= 0:
                break
            try:
                words = ocr_words(page.data, languages=settings.ocr_languages, timeout=left)
            except Exception as exc:  # Tesseract's own errors (a crash, a timeout) must not fail a paid extraction
                failed.append(f"page {page.number}: {_reason(exc)}")
                continue
            layers[position] = PageWords.from_raw(page.number, words, "ocr")
            if not wanted:
                break
    except Exception as exc:  # rendering for OCR failed: the pages read so far keep their words
        failed.append(_reason(exc))
    if wanted:
        failed.append(f"page(s) {', '.join(str(number) for number in sorted(wanted))} not read in time")
    if failed:
        warnings.append(f"OCR failed ({'; '.join(failed)}); those pages have page-level provenance only")


def _pages_for_ocr(source: PageSource, wanted: list[int], selected: int) -> PageSource:
    """A source of only the ``wanted`` pages when the renderer can narrow its selection, else ``source``."""
    narrow = getattr(_innermost(source), "with_pages", None)
    if len(wanted) == selected or not callable(narrow):
        return source
    try:
        narrowed = narrow(wanted)
    except InvoiceAIError:
        return source
    return narrowed if hasattr(narrowed, "render") else source


def _document_pages(value_pages: Mapping[str, int], numbers: Sequence[int]) -> dict[str, int]:
    """The model's pages (positions among the pages sent) as the document's page numbers.

    A position past the pages sent keeps its number, made negative if that number is a page that
    was read, so that grounding sees a page outside the document and ignores it.
    """
    read = set(numbers)
    return {
        path: numbers[page - 1] if 1 <= page <= len(numbers) else -page if page in read else page
        for path, page in value_pages.items()
    }


def _reason(exc: Exception) -> str:
    return exc.message if isinstance(exc, InvoiceAIError) else f"{type(exc).__name__}: {exc}"


def _innermost(source: Any) -> Any:
    # TimedPageSource and WarmPageSource wrap the renderer's source; words come from the renderer's.
    for _ in range(8):
        inner = getattr(source, "inner", None)
        if inner is None:
            return source
        source = inner
    return source
