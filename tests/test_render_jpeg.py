"""A JPEG that already fits is sent as its own bytes, less its metadata (render/jpeg.py)."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops

from invoiceai.documents import Document
from invoiceai.pages import ImageBudget, Page
from invoiceai.render import open_document
from render_fixtures import photo_jpeg, with_orientation

GPS_LIKE = b"Exif\x00\x00" + b"GPS 52.5200 N 13.4050 E " * 40


def _jpeg(quality: int, *, exif: bytes = GPS_LIKE, size: tuple[int, int] = (600, 400), mode: str = "RGB") -> bytes:
    image = Image.open(io.BytesIO(photo_jpeg(*size))).convert(mode)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, exif=exif, comment=b"scanned by someone")
    return out.getvalue()


def _render(data: bytes, budget: ImageBudget | None = None) -> Page:
    (page,) = open_document(Document.from_bytes(data)).render(budget or ImageBudget())
    return page


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_a_fitting_jpeg_is_sent_as_it_is_without_its_metadata(mode: str) -> None:
    data = _jpeg(75, mode=mode)
    page = _render(data)
    assert page.media_type == "image/jpeg"
    assert (page.width, page.height, page.scale) == (600, 400, 1.0)
    assert b"GPS" not in page.data and b"Exif" not in page.data and b"scanned by" not in page.data
    assert len(page.data) < len(data)
    # The very same pixels: the entropy-coded data was not touched.
    sent, original = Image.open(io.BytesIO(page.data)), Image.open(io.BytesIO(data))
    assert sent.mode == original.mode == mode
    assert ImageChops.difference(sent.convert("RGB"), original.convert("RGB")).getbbox() is None


def test_a_finer_jpeg_is_encoded_again_and_gets_smaller() -> None:
    data = _jpeg(97)
    page = _render(data)
    assert page.media_type == "image/jpeg"
    assert len(page.data) < len(data)
    assert b"GPS" not in page.data
    coarser = Image.open(io.BytesIO(page.data)).quantization  # type: ignore[attr-defined]
    original = Image.open(io.BytesIO(data)).quantization  # type: ignore[attr-defined]
    assert sum(coarser[0]) > sum(original[0])


def test_jpegs_that_need_work_are_not_passed_through() -> None:
    rotated = with_orientation(Image.open(io.BytesIO(_jpeg(75, exif=b""))), 6, "JPEG")
    page = _render(rotated)
    assert (page.width, page.height) == (400, 600)  # turned upright, so encoded again
    large = _render(_jpeg(75, size=(2000, 1500)))
    assert (large.width, large.height) == ImageBudget().fit(2000, 1500)
    small_budget = ImageBudget(max_bytes=5_000)
    assert len(_render(_jpeg(75), small_budget).data) <= 5_000
    cmyk = Image.open(io.BytesIO(_jpeg(75, exif=b""))).convert("CMYK")
    out = io.BytesIO()
    cmyk.save(out, "JPEG", quality=75)
    assert Image.open(io.BytesIO(_render(out.getvalue()).data)).mode in ("RGB", "L")
