"""Word layers of scans and photos by OCR: Tesseract through the optional ``ocr`` extra.

``pip install "invoiceai-claude[ocr]"`` installs pytesseract; the Tesseract program and its language
models come from the system's package manager (Debian: ``apt install tesseract-ocr
tesseract-ocr-deu``), so nothing is ever downloaded at run time. :func:`ocr_available` tells
whether both are present; :func:`ocr_words` reads one encoded page image into words with boxes
normalised to the image (0-1, origin top-left), the same :data:`~invoiceai.render.pdf.words.RawWord`
tuples a born-digital PDF page gives.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence

from invoiceai.errors import MissingDependencyError
from invoiceai.render.pdf.words import MAX_WORDS, RawWord

__all__ = ["OCR_BUDGET_EDGE", "OCR_BUDGET_PIXELS", "ocr_available", "ocr_languages", "ocr_text", "ocr_words"]

OCR_BUDGET_EDGE = 3400
"""Longest side, in pixels, a page is rendered at for OCR: about 290 dpi for A4, what Tesseract likes."""
OCR_BUDGET_PIXELS = 8_500_000
"""Most pixels of a page rendered for OCR."""

_MIN_CONFIDENCE = 0.0  # Tesseract gives -1 to layout rows without text


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


def ocr_words(image: bytes, *, languages: str = "eng", timeout: float = 0) -> list[RawWord]:
    """Reads the words of one page image, with their boxes.

    Args:
        image: The encoded image (PNG, JPEG, ...).
        languages: Tesseract languages, ``+``-separated; only installed ones are used.
        timeout: Seconds Tesseract may take (``0``: no limit).

    Returns:
        The words in reading order, boxes normalised to the image.

    Raises:
        MissingDependencyError: OCR is not available (see :func:`require_ocr`).
    """
    require_ocr()
    import pytesseract
    from PIL import Image

    with Image.open(io.BytesIO(image)) as opened:
        picture = opened.convert("L")
    width, height = picture.size
    data = pytesseract.image_to_data(
        picture, lang=ocr_languages(languages), output_type=pytesseract.Output.DICT, timeout=timeout
    )
    return _words(data, width, height)


def _words(data: dict[str, Sequence[object]], width: int, height: int) -> list[RawWord]:
    words: list[RawWord] = []
    for text, conf, left, top, w, h in zip(
        data["text"], data["conf"], data["left"], data["top"], data["width"], data["height"], strict=False
    ):
        word = str(text).strip()
        if not word or float(str(conf)) < _MIN_CONFIDENCE:
            continue
        x0, y0 = int(str(left)) / width, int(str(top)) / height
        x1, y1 = (int(str(left)) + int(str(w))) / width, (int(str(top)) + int(str(h))) / height
        words.append((word, round(x0, 5), round(y0, 5), round(min(x1, 1.0), 5), round(min(y1, 1.0), 5)))
        if len(words) >= MAX_WORDS:
            break
    return words


def ocr_text(words: Sequence[RawWord]) -> str:
    """The words as plain text, one line per row of words (for sending as a page's text hint)."""
    lines: list[list[RawWord]] = []
    for word in sorted(words, key=lambda item: (item[2], item[1])):
        if lines and abs(lines[-1][-1][2] - word[2]) < 0.5 * max(word[4] - word[2], 0.001):
            lines[-1].append(word)
        else:
            lines.append([word])
    return "\n".join(" ".join(item[0] for item in sorted(line, key=lambda item: item[1])) for line in lines)
