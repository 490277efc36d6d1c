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
from invoiceai.provenance import PageWords, Review, ReviewPolicy, ground_invoice, review
from invoiceai.schema.invoice import Invoice

if TYPE_CHECKING:
    from invoiceai.config import Settings
    from invoiceai.pages import PageSource
    from invoiceai.render.ocr import PageOcr
    from invoiceai.render.pdf.words import RawWord

__all__ = ["attach_provenance", "check_ocr_setting", "hint_ocr", "page_ocr", "pages_to_read", "read_word_layers"]


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
    # An e-invoice's values are the XML's, not the model's answer that the pages were named for.
    named = value_pages if value_pages and source is not None and not embedded else None
    layers = read_word_layers(source, settings, warnings, named) if source is not None else []
    reading = time.perf_counter() - started
    pages = _document_pages(named, selected_pages(source)) if named and source is not None else None
    try:
        grounded = ground_invoice(result.data, layers, result.findings, embedded=embedded, model_pages=pages)
    except Exception as exc:  # the paid answer outlives a bug in grounding it
        warnings.append(f"the values could not be grounded ({type(exc).__name__}: {exc}); please report this")
        reason = "the values could not be checked against the pages; check them against the document"
        return dataclasses.replace(result, review=Review(True, (reason,)), warnings=tuple(warnings))
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


def read_word_layers(
    source: PageSource, settings: Settings, warnings: list[str], value_pages: Mapping[str, int] | None = None
) -> list[PageWords]:
    """The word layer of each selected page: the PDF text layer, else OCR (when allowed and installed).

    A document of more than ``settings.provenance_max_pages`` pages has only the words read of
    the pages that matter (:func:`pages_to_read`); its other pages get an empty layer, so values
    there are page-level only (grounding ``unknown``), and a warning says so. A failure to read
    words never fails the extraction: it becomes a warning, and the pages concerned get
    page-level provenance only.

    Args:
        source: The document's open pages.
        settings: ``provenance_max_pages``, ``ocr``, ``ocr_languages`` and ``render_timeout``.
        warnings: The result's warnings, added to.
        value_pages: The model's page of each value (1-based positions among the selected pages).

    Raises:
        MissingDependencyError: ``ocr="on"`` and OCR is not installed.
    """
    numbers = selected_pages(source)
    wanted = pages_to_read(len(numbers), value_pages or {}, settings.provenance_max_pages)
    if len(wanted) < len(numbers):
        warnings.append(
            f"provenance read the words of {len(wanted)} of the {len(numbers)} pages (the pages the model named, "
            f"the first and the last; provenance_max_pages={settings.provenance_max_pages}): values on the other "
            "pages have page-level provenance only"
        )
    raw: list[list[RawWord] | None] = [None] * len(numbers)
    for position, words in zip(wanted, _read_words(source, wanted, len(numbers), warnings), strict=True):
        raw[position] = words
    layers = [PageWords.from_raw(number, words, "text") for number, words in zip(numbers, raw, strict=True)]
    missing = [position for position in wanted if not raw[position]]
    if missing and settings.ocr != "off":
        from invoiceai.render.ocr import ocr_available, require_ocr

        if settings.ocr == "on":
            require_ocr()
        if ocr_available():
            named = {page - 1 for page in (value_pages or {}).values()}
            _ocr(source, settings, numbers, missing, layers, warnings, named)
    return layers


def pages_to_read(count: int, value_pages: Mapping[str, int], most: int) -> list[int]:
    """The positions (0-based, among ``count`` selected pages) whose words provenance reads, most useful first.

    Every page when there are at most ``most``; else the pages the model named, the most named
    first, then the first and the last page, at most ``most`` of them.
    """
    if count <= most:
        return list(range(count))
    named: dict[int, int] = {}
    for page in value_pages.values():
        if 1 <= page <= count:
            named[page - 1] = named.get(page - 1, 0) + 1
    ranked = sorted(named, key=lambda position: (-named[position], position))
    return list(dict.fromkeys([*ranked, 0, count - 1]))[:most]


def _read_words(
    source: PageSource, positions: list[int], count: int, warnings: list[str]
) -> list[list[RawWord] | None]:
    """The text-layer words of the pages at ``positions`` (``None`` for each when they cannot be read)."""
    reader = getattr(_innermost(source), "word_layers", None)
    if not callable(reader) or not positions:
        return [None] * len(positions)
    try:
        # Only a subset is asked for by position: a reader that predates positions still reads them all.
        found = reader() if len(positions) == count else reader(positions)
    except InvoiceAIError as exc:
        warnings.append(f"the pages' words could not be read ({exc.message}); provenance is page-level only")
        return [None] * len(positions)
    if isinstance(found, list) and len(found) == len(positions):
        return found
    return [None] * len(positions)


def _ocr(
    source: PageSource,
    settings: Settings,
    numbers: Sequence[int],
    missing: list[int],
    layers: list[PageWords],
    warnings: list[str],
    named: set[int],
) -> None:
    """OCRs the pages at ``missing`` positions; the OCR the text hints already did is reused (:func:`page_ocr`).

    OCR has one ``render_timeout`` for the document and reads a batch in page order, so the pages
    the model named (``named``, positions) are one batch read before the others: the time goes
    where the values are.
    """
    reader = page_ocr(source, settings)
    found: dict[int, list[RawWord]] = {}
    first = [position for position in missing if position in named]
    for batch in (first, [position for position in missing if position not in named]):
        if batch:
            found.update(reader.words([numbers[position] for position in batch]))
    for position in missing:
        words = found.get(numbers[position])
        if words is not None:
            layers[position] = PageWords.from_raw(numbers[position], words, "ocr")
    if reader.failures:
        warnings.append(f"OCR failed ({'; '.join(reader.failures)}); those pages have page-level provenance only")


def hint_ocr(source: PageSource, settings: Settings, backend: object) -> PageOcr | None:
    """The OCR that gives a document's scanned pages their text hints, or ``None`` when there are none to give.

    Only a backend that sends text beside the images (``mode="images+text"``) gets them, and
    only when OCR is allowed (``ocr`` ``auto`` or ``on``) and installed. It reads nothing yet:
    a page is read when the backend asks for the text layers and that page has none.
    """
    if settings.ocr == "off" or getattr(backend, "mode", None) != "images+text":
        return None
    from invoiceai.render.ocr import ocr_available

    if not ocr_available():
        return None
    return page_ocr(source, settings)


def page_ocr(source: PageSource, settings: Settings) -> PageOcr:
    """The document's :class:`~invoiceai.render.ocr.PageOcr`: the one its source holds, else a new one."""
    from invoiceai.render.ocr import PageOcr

    held = getattr(source, "ocr", None)
    if isinstance(held, PageOcr):
        return held
    return PageOcr(_innermost(source), languages=settings.ocr_languages, timeout=settings.render_timeout)


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


def _innermost(source: Any) -> Any:
    # TimedPageSource and WarmPageSource wrap the renderer's source; words come from the renderer's.
    for _ in range(8):
        inner = getattr(source, "inner", None)
        if inner is None:
            return source
        source = inner
    return source
