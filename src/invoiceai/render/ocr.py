"""Word layers of scans and photos by OCR: Tesseract through the optional ``ocr`` extra.

``pip install "invoiceai-claude[ocr]"`` installs pytesseract; the Tesseract program and its language
models come from the system's package manager (Debian: ``apt install tesseract-ocr
tesseract-ocr-deu``), so nothing is ever downloaded at run time. :func:`ocr_available` tells
whether both are present; :func:`ocr_words` reads one encoded page image into words with boxes
normalised to the image (0-1, origin top-left), the same :data:`~invoiceai.render.pdf.words.RawWord`
tuples a born-digital PDF page gives.
"""

from __future__ import annotations

import contextlib
import functools
import io
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from invoiceai.errors import InvoiceAIError, MissingDependencyError
from invoiceai.render.pdf.words import MAX_WORDS, RawWord

if TYPE_CHECKING:
    from invoiceai.pages import PageSource

__all__ = [
    "OCR_BUDGET_EDGE",
    "OCR_BUDGET_PIXELS",
    "PageOcr",
    "ocr_available",
    "ocr_languages",
    "ocr_text",
    "ocr_words",
]

OCR_BUDGET_EDGE = 3400
"""Longest side, in pixels, a page is rendered at for OCR: about 290 dpi for A4, what Tesseract likes."""
OCR_BUDGET_PIXELS = 8_500_000
"""Most pixels of a page rendered for OCR."""

_MIN_CONFIDENCE = 0.0  # Tesseract gives -1 to layout rows without text
_A4_LONG_INCHES = 11.69
_DARKER_MIDTONES = [round(255 * (level / 255) ** 2) for level in range(256)]


@functools.lru_cache(maxsize=1)
def ocr_available() -> bool:
    """Tells whether pytesseract is installed and finds the ``tesseract`` program."""
    try:
        import pytesseract
    except ImportError:
        return False
    try:
        pytesseract.get_tesseract_version()
    except Exception:  # TesseractNotFoundError, or a binary that does not run
        return False
    return True


def require_ocr() -> None:
    """Raises unless OCR can run.

    Raises:
        MissingDependencyError: pytesseract or the tesseract program is missing; the message
            says how to install each.
    """
    if not ocr_available():
        raise MissingDependencyError(
            "OCR needs the 'ocr' extra and the Tesseract program: pip install \"invoiceai-claude[ocr]\", and install "
            "Tesseract with its languages from your package manager (Debian/Ubuntu: apt install tesseract-ocr "
            "tesseract-ocr-deu; macOS: brew install tesseract). Or set Settings(ocr='off').",
            extra="ocr",
        )


@functools.lru_cache(maxsize=8)
def ocr_languages(wanted: str) -> str:
    """The installed subset of ``wanted`` (``"eng+deu"``), in that order; ``"eng"`` if none is installed."""
    import pytesseract

    installed = set(pytesseract.get_languages(config=""))
    chosen = [language for language in wanted.split("+") if language.strip() in installed]
    return "+".join(chosen) or "eng"


def ocr_words(image: bytes, *, languages: str = "eng", timeout: float = 0, dpi: int | None = None) -> list[RawWord]:
    """Reads the words of one page image, with their boxes.

    Args:
        image: The encoded image (PNG, JPEG, ...).
        languages: Tesseract languages, ``+``-separated; only installed ones are used.
        timeout: Seconds Tesseract may take (``0``: no limit).
        dpi: The image's resolution. Without it Tesseract guesses from the letters' height and,
            on a compressed or tilted page, guesses badly: on the benchmark's photos telling it
            the resolution read 87 % of the numbers right instead of 71 %. ``None``: taken as
            an A4 page filling the image's long side.

    Returns:
        The words in reading order, boxes normalised to the image; for a page askew, then the
        words of a second reading of the page levelled (the same word may be in both).

    Raises:
        MissingDependencyError: OCR is not available (see :func:`require_ocr`).
    """
    require_ocr()
    from PIL import Image

    with Image.open(io.BytesIO(image)) as opened:
        picture = _flatten(opened.convert("L"))
    width, height = picture.size
    resolution = dpi or max(width, height) / _A4_LONG_INCHES
    config = f"--dpi {min(max(round(resolution), 70), 1200)}"
    until = time.monotonic() + timeout if timeout else None
    read = functools.partial(_read, languages=ocr_languages(languages), config=config)
    words = _words(read(picture, timeout), width, height)
    angle = _skew(picture)
    left = until - time.monotonic() if until is not None else 0.0
    if abs(angle) >= _LEVEL and (until is None or left > 0) and len(words) < MAX_WORDS:
        # A second reading of the page levelled: on a photo a few degrees askew, each reading
        # drops or misreads blocks the other reads right (a seller's address, a total). Their
        # union read the benchmark's photos with 2.3 % false alarms instead of 4.9 % (either alone).
        level = picture.rotate(angle, expand=True, fillcolor=255, resample=Image.Resampling.BICUBIC)
        with contextlib.suppress(RuntimeError):  # pytesseract's timeout: the first reading stands
            words += _words(read(level, left), width, height, turn=(angle, level.width, level.height))
    return words[:MAX_WORDS]


def _read(picture: Any, timeout: float, *, languages: str, config: str) -> dict[str, Sequence[object]]:
    import pytesseract

    data: dict[str, Sequence[object]] = pytesseract.image_to_data(
        picture, lang=languages, config=config, output_type=pytesseract.Output.DICT, timeout=timeout
    )
    return data


_LEVEL = 0.5  # degrees: a page turned less is read once
_SKEW_STEPS = [step / 4 for step in range(-20, 21)]  # -5 to 5 degrees by a quarter


def _skew(picture: Any) -> float:
    """The angle (degrees, counter-clockwise) that levels the page's lines of text; 0 when level.

    Photos lie a few degrees askew; Tesseract then reads a line's end into the next line, or
    drops a block (on the benchmark's photos a seller's address, a total). The page is turned,
    small, by each candidate angle; the one whose rows are most unlike each other (sharp lines
    of ink between white gaps: the largest variance of the rows' ink) levels the text.
    """
    from PIL import Image, ImageOps

    small = ImageOps.invert(picture.reduce(max(1, max(picture.size) // 1000)))
    best, best_score = 0.0, -1.0
    for angle in _SKEW_STEPS:
        turned = small.rotate(angle, expand=False, fillcolor=0, resample=Image.Resampling.BILINEAR) if angle else small
        rows = turned.resize((1, turned.height), Image.Resampling.BOX).tobytes()
        mean = sum(rows) / len(rows)
        score = sum((row - mean) ** 2 for row in rows)
        if score > best_score * 1.0001:
            best, best_score = angle, score
    return best


def _flatten(picture: Any) -> Any:
    """The page with its background made white: light falling off across a photo, grey table bars.

    Tesseract binarises the whole page with one threshold; on a photo whose far side is darker
    it blacks out half the page, and it finds no words at all (a mostly empty page of the
    benchmark's photos read as nothing). The background, estimated as the brightest level
    around each point over about four times the height of a line of text, is taken out, so
    the ink stands on white everywhere; then the mid-tones are darkened (gamma 2).
    """
    from PIL import Image, ImageChops, ImageFilter

    small = picture.resize((max(picture.width // 8, 1), max(picture.height // 8, 1)), Image.Resampling.BOX)
    background = small.filter(ImageFilter.MaxFilter(5)).filter(ImageFilter.GaussianBlur(2))
    background = background.resize(picture.size, Image.Resampling.BILINEAR)
    flat = ImageChops.invert(ImageChops.subtract(background, picture))
    # Coloured text (orange headings, blue links) is light grey here, above Tesseract's threshold:
    # darkening the mid-tones keeps it. On the benchmark's scans it read 97 % of words, not 84 %.
    return flat.point(_DARKER_MIDTONES)


def _words(
    data: dict[str, Sequence[object]], width: int, height: int, *, turn: tuple[float, int, int] = (0.0, 0, 0)
) -> list[RawWord]:
    """Tesseract's words with boxes normalised to the original image.

    ``turn``: the angle the image was turned by before OCR and the turned image's size; each
    box's centre is turned back onto the original image, its size kept (a word's box is not
    turned, so a line's words keep one height, as on a level page).
    """
    import math

    angle, turned_width, turned_height = turn
    cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    words: list[RawWord] = []
    for text, conf, left, top, w, h in zip(
        data["text"], data["conf"], data["left"], data["top"], data["width"], data["height"], strict=False
    ):
        word = str(text).strip()
        if not word or float(str(conf)) < _MIN_CONFIDENCE:
            continue
        half_w, half_h = int(str(w)) / 2, int(str(h)) / 2
        x, y = int(str(left)) + half_w, int(str(top)) + half_h
        if angle:
            # Pillow turns counter-clockwise about the centre: turn the centre back clockwise.
            dx, dy = x - turned_width / 2, y - turned_height / 2
            x, y = width / 2 + dx * cos - dy * sin, height / 2 + dx * sin + dy * cos
        x0, y0 = max(x - half_w, 0) / width, max(y - half_h, 0) / height
        x1, y1 = (x + half_w) / width, (y + half_h) / height
        words.append((word, round(x0, 5), round(y0, 5), round(min(x1, 1.0), 5), round(min(y1, 1.0), 5)))
        if len(words) >= MAX_WORDS:
            break
    return words


def ocr_text(words: Sequence[RawWord]) -> str:
    """The words as plain text, one line per row of words (for sending as a page's text hint).

    A word covering much of an earlier one is left out: :func:`ocr_words` reads a page askew
    twice, and the model needs each word once (the first reading's, and only the second's where
    the first found nothing).
    """
    lines: list[list[RawWord]] = []
    kept: list[RawWord] = []
    for word in words:
        if not any(_covers(word, other) for other in kept):
            kept.append(word)
    for word in sorted(kept, key=lambda item: (item[2], item[1])):
        if lines and abs(lines[-1][-1][2] - word[2]) < 0.5 * max(word[4] - word[2], 0.001):
            lines[-1].append(word)
        else:
            lines.append([word])
    return "\n".join(" ".join(item[0] for item in sorted(line, key=lambda item: item[1])) for line in lines)


def _covers(one: RawWord, two: RawWord) -> bool:
    """Whether the two words' boxes share more than a third of the smaller one."""
    across = min(one[3], two[3]) - max(one[1], two[1])
    down = min(one[4], two[4]) - max(one[2], two[2])
    smaller = min((one[3] - one[1]) * (one[4] - one[2]), (two[3] - two[1]) * (two[4] - two[2]))
    return across > 0 and down > 0 and across * down > smaller / 3


class PageOcr:
    """The OCR of one open document's pages, each page read at most once.

    The text hints (a scanned page's OCR text sent beside its image, ``mode="images+text"``)
    and provenance (the page's words with boxes) both ask it, so Tesseract reads a page of a
    document once, whichever asks first. Each page is read on its own: a page Tesseract fails
    on leaves the others their words, and is not tried again. All the OCR of the document
    shares one time budget, counted from the first page read.

    Args:
        source: The document's open pages (the renderer's source; it is narrowed to the pages
            asked for when it can be, see ``with_pages``).
        languages: Tesseract languages, ``+``-separated.
        timeout: Seconds all the OCR of this document may take.
    """

    def __init__(self, source: PageSource, *, languages: str, timeout: float) -> None:
        self._source = source
        self._languages = languages
        self._timeout = timeout
        self._until: float | None = None
        self._words: dict[int, list[RawWord]] = {}
        self._failed: dict[int, str] = {}
        self._lock = threading.Lock()

    @property
    def failures(self) -> list[str]:
        """Why pages could not be read, in page order (``page 2: ...``, ``page(s) 3 not read in time``)."""
        late = sorted(number for number, reason in self._failed.items() if not reason)
        found = [f"page {number}: {reason}" for number, reason in sorted(self._failed.items()) if reason]
        if late:
            found.append(f"page(s) {', '.join(str(number) for number in late)} not read in time")
        return found

    def words(self, numbers: Sequence[int]) -> dict[int, list[RawWord]]:
        """The words of the pages ``numbers`` (1-based), read now unless read before; failed pages are left out."""
        with self._lock:
            wanted = [number for number in numbers if number not in self._words and number not in self._failed]
            if wanted:
                if self._until is None:
                    self._until = time.monotonic() + self._timeout
                self._read(wanted)
            return {number: self._words[number] for number in numbers if number in self._words}

    def _read(self, wanted: list[int]) -> None:
        budget = _ocr_budget()
        left_over = set(wanted)
        try:
            for page in _narrowed(self._source, wanted).render(budget):
                if page.number not in left_over:
                    continue
                left = (self._until or 0.0) - time.monotonic()
                if left <= 0:
                    break
                left_over.discard(page.number)
                try:
                    self._words[page.number] = ocr_words(
                        page.data, languages=self._languages, timeout=left, dpi=self._dpi(page.scale)
                    )
                except Exception as exc:  # Tesseract's own errors (a crash, a timeout) must not fail a paid extraction
                    self._failed[page.number] = _reason(exc)
                if not left_over:
                    break
        except Exception as exc:  # rendering for OCR failed: the pages read so far keep their words
            for number in left_over:
                self._failed[number] = _reason(exc)
            left_over.clear()
        for number in left_over:
            self._failed[number] = ""  # the budget ran out

    def _dpi(self, scale: float) -> int | None:
        """A PDF page's resolution (its scale is pixels per point); ``None`` for an image (size on paper unknown)."""
        from invoiceai.render.pdf.renderer import PdfPageSource

        return round(scale * 72) if isinstance(self._source, PdfPageSource) and scale > 0 else None


def _ocr_budget() -> Any:
    from invoiceai.pages import ImageBudget

    return ImageBudget(max_long_edge=OCR_BUDGET_EDGE, max_pixels=OCR_BUDGET_PIXELS, max_bytes=64 * 1024 * 1024)


def _narrowed(source: PageSource, wanted: list[int]) -> PageSource:
    """A source of only the ``wanted`` pages when the renderer can narrow its selection, else ``source``."""
    narrow = getattr(source, "with_pages", None)
    numbers = getattr(source, "page_numbers", None)
    if not callable(narrow) or (isinstance(numbers, (tuple, list)) and sorted(numbers) == sorted(wanted)):
        return source
    try:
        narrowed = narrow(wanted)
    except InvoiceAIError:
        return source
    return narrowed if hasattr(narrowed, "render") else source


def _reason(exc: Exception) -> str:
    return exc.message if isinstance(exc, InvoiceAIError) else f"{type(exc).__name__}: {exc}"
