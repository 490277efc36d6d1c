"""Scans and photos of PDFs for the OCR grounding tests and ``benchmarks/grounding.py``.

A *scan* (:func:`provenance_truth.scan`) is a page rendered at 200 dpi, turned 1.5 degrees and
JPEG-compressed. A *photo* is harsher, the way a phone takes an invoice lying on a desk: a lower
resolution (150 dpi), turned a few degrees either way, seen a little from one side (a slight
perspective), light falling off across the page, a touch of blur, and a stronger JPEG
compression. Both are deterministic: the same PDF gives the same bytes.
"""

from __future__ import annotations

import io
from pathlib import Path

__all__ = ["photo", "photo_image"]


def photo_image(page: object, *, angle: float, quality: int = 45) -> bytes:
    """One page image (a Pillow image) made into a photo, JPEG-encoded."""
    from PIL import Image, ImageFilter

    assert isinstance(page, Image.Image)
    picture = page.convert("L")
    width, height = picture.size
    # Light falling off across the page: the far side at 80 % of the near side's brightness.
    light = Image.linear_gradient("L").rotate(90).resize((width, height))
    light = light.point(lambda level: 255 - level // 5)
    picture = Image.composite(picture, Image.new("L", (width, height), 0), light)  # darker where light is low
    # A slight perspective: the top edge about 2 % narrower than the bottom.
    inset = 0.02 * width
    corners = [(0.0, 0.0), (width, 0.0), (width, height), (0.0, height)]
    coefficients = _perspective([(inset, 0.0), (width - inset, 0.0), (width, height), (0.0, height)], corners)
    picture = picture.transform(
        (width, height), Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BICUBIC, fillcolor=235
    )
    picture = picture.rotate(angle, expand=True, fillcolor=235, resample=Image.Resampling.BICUBIC)
    picture = picture.filter(ImageFilter.GaussianBlur(0.6))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def photo(pdf: Path, *, angle: float = 2.5, quality: int = 45, dpi: int = 150) -> bytes:
    """The PDF's pages as photos in an image-only PDF; pages turn ``angle`` degrees, alternately either way."""
    import pypdfium2
    from PIL import Image

    document = pypdfium2.PdfDocument(pdf.read_bytes())
    try:
        images = []
        for index in range(len(document)):
            page = document[index].render(scale=dpi / 72).to_pil()
            encoded = photo_image(page, angle=angle if index % 2 == 0 else -angle, quality=quality)
            images.append(Image.open(io.BytesIO(encoded)))
    finally:
        document.close()
    out = io.BytesIO()
    images[0].save(out, "PDF", save_all=True, append_images=images[1:], resolution=float(dpi))
    return out.getvalue()


def _perspective(target: list[tuple[float, float]], source: list[tuple[float, float]]) -> list[float]:
    """The 8 coefficients Pillow's PERSPECTIVE transform needs to map ``source`` corners onto ``target``."""
    rows: list[list[float]] = []
    values: list[float] = []
    for (x, y), (u, v) in zip(source, target, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        values.extend((u, v))
    return _solve(rows, values)


def _solve(rows: list[list[float]], values: list[float]) -> list[float]:
    """Gaussian elimination for the small 8x8 system (numpy is not a dependency)."""
    size = len(values)
    matrix = [[*row, value] for row, value in zip(rows, values, strict=True)]
    for column in range(size):
        pivot = max(range(column, size), key=lambda row: abs(matrix[row][column]))
        matrix[column], matrix[pivot] = matrix[pivot], matrix[column]
        for row in range(size):
            if row != column:
                factor = matrix[row][column] / matrix[column][column]
                matrix[row] = [a - factor * b for a, b in zip(matrix[row], matrix[column], strict=True)]
    return [matrix[row][size] / matrix[row][row] for row in range(size)]
