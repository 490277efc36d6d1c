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


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + (2 + len(payload)).to_bytes(2, "big") + payload


def _same_pixels(sent: bytes, original: bytes) -> bool:
    a, b = Image.open(io.BytesIO(sent)).convert("RGB"), Image.open(io.BytesIO(original)).convert("RGB")
    return ImageChops.difference(a, b).getbbox() is None


def test_nothing_after_the_first_end_of_image_is_sent() -> None:
    clean = _jpeg(75, exif=b"")
    clean = clean.replace(_segment(0xFE, b"scanned by someone"), b"")
    # A second JPEG carrying GPS (no MPF index, so it is not an MPO), then a blob with FF D9 in it.
    trailer = _jpeg(75, exif=GPS_LIKE, size=(64, 64))
    blob = b"ftypmp42 moov udta GPS 52.5200 N 13.4050 E \xff\xd9 tail"
    for appended in (trailer, blob, trailer + blob):
        page = _render(clean + appended)
        assert b"GPS" not in page.data and b"tail" not in page.data
        assert page.data == clean  # passed through, ending at the first EOI
        assert _same_pixels(page.data, clean)


def test_metadata_between_progressive_scans_is_not_sent() -> None:
    image = Image.open(io.BytesIO(photo_jpeg(600, 400))).convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=75, progressive=True)
    progressive = out.getvalue()
    assert _render(progressive).data == progressive  # a clean one passes through whole
    between = progressive.find(b"\xff\xc4", progressive.find(b"\xff\xda"))
    assert between > 0, "the fixture should have a DHT between scans"
    metadata = _segment(0xFE, b"secret comment") + _segment(0xE1, GPS_LIKE)
    hidden = progressive[:between] + metadata + progressive[between:]
    page = _render(hidden)
    assert b"secret comment" not in page.data and b"GPS" not in page.data
    assert Image.open(io.BytesIO(page.data)).size == (600, 400)  # encoded again instead


def test_app0_and_app14_are_cut_to_what_a_decoder_reads() -> None:
    clean = _jpeg(75, exif=b"").replace(_segment(0xFE, b"scanned by someone"), b"")
    jfxx = _segment(0xE0, b"JFXX\x00\x10" + b"THUMBNAIL-OF-ORIGINAL" * 10)
    adobe = _segment(0xEE, b"Adobe\x00\x64\x00\x00\x00\x00\x01" + b"HIDDEN-IN-APP14" * 5)
    jfif_with_thumbnail = bytearray(clean[2:20])
    jfif_with_thumbnail[16:18] = b"\x01\x01"  # a 1x1 RGB thumbnail
    thumbnail = _segment(0xE0, bytes(jfif_with_thumbnail[4:]) + b"THM")
    for data in (
        clean[:2] + jfxx + clean[2:],
        clean[:20] + adobe + clean[20:],
        clean[:2] + thumbnail + clean[20:],
    ):
        page = _render(data)
        for secret in (b"THUMBNAIL", b"HIDDEN", b"THM"):
            assert secret not in page.data
        assert _same_pixels(page.data, clean)
    assert _render(clean[:20] + adobe + clean[20:]).data == clean[:20] + _segment(0xEE, adobe[4:16]) + clean[20:]
    assert _render(clean[:2] + thumbnail + clean[20:]).data == clean
