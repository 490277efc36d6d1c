"""Rasterising PDF pages with pdfium, each call under :data:`~invoiceai.render.pdf.lock.PDFIUM_LOCK`.

This module reads a page's text layer, inspects its content objects, and rasterises it straight
to a pixel size that fits the budget (opening documents is :mod:`invoiceai.render.pdf.document`).
Encoding happens elsewhere, outside the lock, so another thread can encode one page while this
module renders the next.

What ``born_digital`` means: the page draws *visible* text with fonts. A scan with an invisible
OCR layer on top (an "OCR sandwich", text render mode 3) has a text layer but is not
born-digital: its text is only as good as the OCR that made it, and the image is the truth.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import math
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from invoiceai.errors import CorruptDocumentError, InvoiceAIError
from invoiceai.render.limits import RenderLimits, check_render_bytes
from invoiceai.render.pdf.lock import PDFIUM_LOCK

if TYPE_CHECKING:
    from PIL import Image

    from invoiceai.pages import ImageBudget

__all__ = ["MAX_SCALE", "PageFacts", "PagePixels", "load_page", "page_text", "rasterise"]

MAX_SCALE = 600 / 72
"""Pixels per point never exceed 600 dpi: tiny pages (3 pt) would otherwise be blown up 350x."""

# Share of the page that images must cover for the page to count as a scan or photo.
_PHOTO_COVERAGE = 0.5
# Pathological pages can hold millions of objects; the content scan stops after this many.
_MAX_OBJECTS = 20_000
_MAX_FORM_DEPTH = 8
_INVISIBLE_TEXT_MODES = frozenset({3, 7})  # FPDF_TEXTRENDERMODE_INVISIBLE, FPDF_TEXTRENDERMODE_CLIP
_PAGEOBJ_TEXT = 1
_PAGEOBJ_IMAGE = 3
_PAGEOBJ_FORM = 5

Matrix = tuple[float, float, float, float, float, float]
_IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


@dataclasses.dataclass(frozen=True, slots=True)
class PagePixels:
    """One page rendered to pixels, before encoding.

    Attributes:
        index: 0-based page index in the document.
        image: The page at its final size: an ``RGBX`` image over the very buffer pdfium drew
            into (no copy is made; encoding reads it in place, and copies it to ``RGB`` only
            for a coloured scan's JPEG).
        size_pt: The page's size in PDF points, as displayed (after ``/Rotate``).
        photographic: Images cover most of the page (a scan or a photo).
    """

    index: int
    image: Image.Image
    size_pt: tuple[float, float]
    photographic: bool


@dataclasses.dataclass(frozen=True, slots=True)
class PageFacts:
    """What is learnt about a page after its pixels are handed over.

    Attributes:
        text: The text layer, or ``None`` when the page has no text.
        born_digital: The page draws visible text (see the module docstring).
    """

    text: str | None
    born_digital: bool


def page_text(pdf: Any, index: int, *, document_id: str) -> str | None:
    """Returns a page's text layer without rasterising it.

    Args:
        pdf: An open document.
        index: 0-based page index.
        document_id: For error context.

    Returns:
        The text (newlines normalised), or ``None`` when the page has none.

    Raises:
        CorruptDocumentError: The page cannot be loaded.
    """
    with PDFIUM_LOCK:
        page = load_page(pdf, index, document_id=document_id)
        try:
            return _extract_text(page)
        finally:
            page.close()


def rasterise(
    pdf: Any,
    index: int,
    budget: ImageBudget,
    *,
    document_id: str,
    on_pixels: Callable[[PagePixels], None] | None = None,
    limits: RenderLimits | None = None,
) -> tuple[PagePixels, PageFacts]:
    """Renders one page straight to the largest pixel size that fits ``budget``.

    The page's size in points (after ``/Rotate`` and the crop box) sets the scale, capped at
    :data:`MAX_SCALE`; pdfium then renders directly to that pixel size, so no page is rendered
    larger and shrunk afterwards. ``/Rotate`` is applied by pdfium. The text layer is read after
    the pixels are handed over, so a caller can start encoding (``on_pixels``) meanwhile.

    Args:
        pdf: An open document.
        index: 0-based page index.
        budget: The pixel budget.
        document_id: For error context.
        on_pixels: Called with the pixels as soon as they exist, before the text is read.
        limits: ``max_render_bytes`` caps the bitmap (the defaults when ``None``).

    Returns:
        The page's pixels and the facts learnt after them (text layer, born-digital).

    Raises:
        CorruptDocumentError: The page cannot be loaded or rendered.
        RenderTooLargeError: The bitmap would be above ``max_render_bytes``.
    """
    limits = limits if limits is not None else RenderLimits()
    with PDFIUM_LOCK:
        page = load_page(pdf, index, document_id=document_id)
    try:
        with PDFIUM_LOCK, _render_errors(index, document_id):
            width_pt, height_pt = _page_size(page, index, document_id)
            width, height = budget.fit(width_pt, height_pt, allow_upscale=True, max_scale=MAX_SCALE)
            check_render_bytes(width, height, limits, document_id=document_id, page=index + 1)
            visible_text, coverage = _scan_objects(page, width_pt * height_pt)
            image = _draw(page, width, height)
        pixels = PagePixels(
            index=index, image=image, size_pt=(width_pt, height_pt), photographic=coverage >= _PHOTO_COVERAGE
        )
        # The text layer is read while the caller encodes the pixels (encoding releases the GIL).
        if on_pixels is not None:
            on_pixels(pixels)
        with PDFIUM_LOCK, _render_errors(index, document_id):
            text = _extract_text(page)
    finally:
        with PDFIUM_LOCK:
            page.close()
    return pixels, PageFacts(text=text, born_digital=visible_text and text is not None)


def _page_size(page: Any, index: int, document_id: str) -> tuple[float, float]:
    width_pt, height_pt = page.get_size()
    if not (math.isfinite(width_pt) and math.isfinite(height_pt)) or width_pt <= 0 or height_pt <= 0:
        raise CorruptDocumentError(
            f"Page {index + 1} has no usable size ({width_pt}x{height_pt} pt); re-export the PDF.",
            document_id=document_id,
            page=index + 1,
        )
    return float(width_pt), float(height_pt)


def _draw(page: Any, width: int, height: int) -> Image.Image:
    """Renders ``page`` at ``width`` x ``height`` pixels (caller holds the pdfium lock)."""
    import pypdfium2
    import pypdfium2.raw as pdfium_c
    from PIL import Image

    # pdfium renders 4-byte pixels faster than 3-byte ones. The bitmap's buffer is Python's own
    # (new_native), so the RGBX image maps it and outlives the bitmap: no copy here. Encoding
    # then reads greys straight out of it, and copies to RGB only a page that has colour.
    bitmap = pypdfium2.PdfBitmap.new_native(width, height, pdfium_c.FPDFBitmap_BGRx, rev_byteorder=True)
    try:
        bitmap.fill_rect((255, 255, 255, 255), 0, 0, width, height)
        flags = pdfium_c.FPDF_ANNOT | pdfium_c.FPDF_REVERSE_BYTE_ORDER
        pdfium_c.FPDF_RenderPageBitmap(bitmap, page, 0, 0, width, height, 0, flags)
        if page.formenv:
            pdfium_c.FPDF_FFLDraw(page.formenv, bitmap, page, 0, 0, width, height, 0, flags)
        return Image.frombuffer("RGBX", (width, height), bitmap.buffer, "raw", "RGBX", bitmap.stride, 1)
    finally:
        bitmap.close()


@contextlib.contextmanager
def _render_errors(index: int, document_id: str) -> Iterator[None]:
    try:
        yield
    except InvoiceAIError:
        raise
    except Exception as exc:
        raise CorruptDocumentError(
            f"Page {index + 1} could not be rendered ({type(exc).__name__}: {exc}); the PDF is damaged. "
            "Re-export it, or select the other pages with pages=.",
            document_id=document_id,
            page=index + 1,
        ) from exc


def load_page(pdf: Any, index: int, *, document_id: str) -> Any:
    """Page ``index`` of an open pdfium document (the caller holds ``PDFIUM_LOCK``).

    Raises:
        CorruptDocumentError: The page tree is damaged there.
    """
    import pypdfium2

    try:
        return pdf[index]
    except pypdfium2.PdfiumError as exc:
        raise CorruptDocumentError(
            f"Page {index + 1} cannot be loaded; the PDF's page tree is damaged. Re-export the PDF, or "
            "select the other pages with pages=.",
            document_id=document_id,
            page=index + 1,
        ) from exc


def _extract_text(page: Any) -> str | None:
    textpage = page.get_textpage()
    try:
        raw = textpage.get_text_range()
    finally:
        textpage.close()
    text = raw.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    return text if text.strip() else None


def _scan_objects(page: Any, page_area: float) -> tuple[bool, float]:
    """Returns (draws visible text, share of the page covered by images) from the content."""
    import pypdfium2.raw as pdfium_c

    # A page of a thousand objects costs two C calls each: the raw handles and the functions
    # bound to locals keep Python's share of that (pypdfium2's wrappers) out of the loop.
    get_type, render_mode = pdfium_c.FPDFPageObj_GetType, pdfium_c.FPDFTextObj_GetTextRenderMode
    page_object, form_object = pdfium_c.FPDFPage_GetObject, pdfium_c.FPDFFormObj_GetObject
    raw_page = getattr(page, "raw", page)
    visible_text = False
    image_area = 0.0
    visited = 0
    # Each entry: (form object, or None for the page itself; matrix into page space; depth).
    stack: list[tuple[Any, Matrix, int]] = [(None, _IDENTITY, 0)]
    while stack and visited < _MAX_OBJECTS:
        container, matrix, depth = stack.pop()
        if container is None:
            count, handle, get_object = pdfium_c.FPDFPage_CountObjects(raw_page), raw_page, page_object
        else:
            count, handle, get_object = pdfium_c.FPDFFormObj_CountObjects(container), container, form_object
        for position in range(max(0, min(count, _MAX_OBJECTS - visited))):
            visited += 1
            obj = get_object(handle, position)
            if not obj:
                continue
            kind = get_type(obj)
            if kind == _PAGEOBJ_TEXT and not visible_text:
                visible_text = render_mode(obj) not in _INVISIBLE_TEXT_MODES
            elif kind == _PAGEOBJ_IMAGE:
                image_area += _image_area(obj, matrix)
            elif kind == _PAGEOBJ_FORM and depth < _MAX_FORM_DEPTH:
                stack.append((obj, _compose(_form_matrix(obj), matrix), depth + 1))
    coverage = min(1.0, image_area / page_area) if page_area > 0 else 0.0
    return visible_text, coverage


def _image_area(obj: Any, matrix: Matrix) -> float:
    import pypdfium2.raw as pdfium_c

    left, bottom, right, top = (ctypes.c_float() for _ in range(4))
    if not pdfium_c.FPDFPageObj_GetBounds(obj, left, bottom, right, top):
        return 0.0
    box = _transform_box(matrix, left.value, bottom.value, right.value, top.value)
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def _form_matrix(obj: Any) -> Matrix:
    import pypdfium2.raw as pdfium_c

    form_matrix = pdfium_c.FS_MATRIX()
    if not pdfium_c.FPDFPageObj_GetMatrix(obj, form_matrix):
        return _IDENTITY
    return (form_matrix.a, form_matrix.b, form_matrix.c, form_matrix.d, form_matrix.e, form_matrix.f)


def _compose(inner: Matrix, outer: Matrix) -> Matrix:
    """Returns the matrix applying ``inner`` first, then ``outer`` (PDF row-vector convention)."""
    a, b, c, d, e, f = inner
    a2, b2, c2, d2, e2, f2 = outer
    return (
        a * a2 + b * c2,
        a * b2 + b * d2,
        c * a2 + d * c2,
        c * b2 + d * d2,
        e * a2 + f * c2 + e2,
        e * b2 + f * d2 + f2,
    )


def _transform_box(matrix: Matrix, left: float, bottom: float, right: float, top: float) -> tuple[float, ...]:
    if matrix == _IDENTITY:
        return (left, bottom, right, top)
    a, b, c, d, e, f = matrix
    xs, ys = [], []
    for x, y in ((left, bottom), (left, top), (right, bottom), (right, top)):
        xs.append(a * x + c * y + e)
        ys.append(b * x + d * y + f)
    return (min(xs), min(ys), max(xs), max(ys))
