"""The image renderer: modes, orientation, frames, downscaling, bombs and HEIC."""

from __future__ import annotations

import io
import struct
import sys
import warnings
import zlib

import pytest
from PIL import Image, ImageChops, ImageOps

from invoiceai.documents import Document, detect_media_type
from invoiceai.errors import (
    CorruptDocumentError,
    DecompressionBombError,
    DocumentTooLargeError,
    MissingDependencyError,
    PageSelectionError,
)
from invoiceai.pages import API_IMAGE_MEDIA_TYPES, ImageBudget, Page
from invoiceai.render import ImageRenderer, open_document
from render_fixtures import document_image, encode_image, photo_jpeg, with_orientation

BUDGET = ImageBudget()


def render(data: bytes, budget: ImageBudget = BUDGET, **options: object) -> list[Page]:
    source = open_document(Document.from_bytes(data), **options)  # type: ignore[arg-type]
    pages = list(source.render(budget))
    for page in pages:
        assert page.media_type in API_IMAGE_MEDIA_TYPES
        assert detect_media_type(page.data) == page.media_type
        assert budget.contains(page.width, page.height)
        assert len(page.data) <= budget.max_bytes
        assert page.text is None and not page.born_digital
        assert decoded(page).size == (page.width, page.height)
    return pages


def decoded(page: Page) -> Image.Image:
    image = Image.open(io.BytesIO(page.data))
    image.load()
    return image


def png_16bit_rgb(width: int, height: int, value: tuple[int, int, int]) -> bytes:
    """A 16-bit-per-channel RGB PNG, which Pillow cannot write itself."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\x00" + struct.pack(">HHH", *value) * width
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a size but holds (almost) no pixels: how decompression bombs start."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


# --- modes ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [
        ("1", "PNG"),
        ("1", "TIFF"),
        ("L", "PNG"),
        ("P", "PNG"),
        ("P", "GIF"),
        ("RGB", "BMP"),
        ("CMYK", "JPEG"),
        ("CMYK", "TIFF"),
        ("LAB", "TIFF"),
        ("I;16", "PNG"),
        ("I", "TIFF"),
        ("F", "TIFF"),
        ("RGB", "WEBP"),
        ("YCbCr", "JPEG"),
    ],
)
def test_every_mode_renders_as_the_same_document(mode: str, fmt: str) -> None:
    original = document_image((400, 300))
    source = original.convert(mode) if mode not in ("I;16", "I", "F") else original.convert("L").convert(mode)
    (page,) = render(encode_image(source, fmt))
    assert (page.width, page.height) == (400, 300)
    # The ruled lines are still where they were: dark where the original is dark, light elsewhere.
    grey = decoded(page).convert("L")
    reference = original.convert("L")
    assert ImageChops.difference(grey, reference).point(lambda value: 255 if value > 96 else 0).getbbox() is None


def test_sixteen_bit_grey_is_scaled_not_clipped() -> None:
    image = Image.new("I;16", (64, 64), 40_000)  # 61 % grey on a 16-bit scale
    (page,) = render(encode_image(image, "PNG"))
    assert decoded(page).convert("L").getpixel((10, 10)) == pytest.approx(40_000 * 255 / 65_535, abs=10)


def test_sixteen_bit_rgb_png() -> None:
    (page,) = render(png_16bit_rgb(50, 40, (65_535, 0, 32_768)))
    assert decoded(page).convert("RGB").getpixel((5, 5)) == pytest.approx((255, 0, 128), abs=12)


@pytest.mark.parametrize(("mode", "fmt"), [("RGBA", "PNG"), ("LA", "PNG"), ("RGBA", "WEBP"), ("PA", "PNG")])
def test_transparency_is_flattened_onto_white(mode: str, fmt: str) -> None:
    image = Image.new("RGBA", (100, 80), (0, 0, 0, 0))  # transparent *black*
    image.paste((0, 0, 0, 255), (10, 10, 30, 30))
    source = image.convert(mode) if mode != "PA" else image.convert("RGBA").convert("P").convert("PA")
    if mode == "PA":
        source = Image.new("P", (100, 80), 0)
        source.putpalette([0, 0, 0, 255, 255, 255])
        source.paste(1, (10, 10, 30, 30))
        source.info["transparency"] = 0
    (page,) = render(encode_image(source, fmt))
    flat = decoded(page).convert("L")
    if mode == "PA":
        assert flat.getpixel((50, 50)) > 240 and flat.getpixel((20, 20)) > 240  # index 0 was transparent
    else:
        assert flat.getpixel((50, 50)) > 240  # transparent areas become white, not black
        assert flat.getpixel((20, 20)) < 20


def test_palette_transparency_in_gif() -> None:
    image = Image.new("P", (60, 60), 0)
    image.putpalette([255, 0, 0, 0, 0, 255])
    image.paste(1, (20, 20, 40, 40))
    (page,) = render(encode_image(image, "GIF", transparency=0))
    pixels = decoded(page).convert("RGB")
    assert pixels.getpixel((5, 5)) == (255, 255, 255)
    assert pixels.getpixel((30, 30))[2] > 200  # type: ignore[index]


# --- orientation ---------------------------------------------------------------------------------------

_INVERSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def marker_corner(image: Image.Image) -> str:
    grey = image.convert("L")
    width, height = grey.size
    corners = {
        "top-left": (0, 0, width // 3, height // 3),
        "top-right": (2 * width // 3, 0, width, height // 3),
        "bottom-left": (0, 2 * height // 3, width // 3, height),
        "bottom-right": (2 * width // 3, 2 * height // 3, width, height),
    }
    dark = [name for name, box in corners.items() if grey.crop(box).getextrema()[0] < 80]  # type: ignore[index, operator]
    assert len(dark) == 1, dark
    return dark[0]


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_exif_orientation_is_applied(orientation: int, fmt: str) -> None:
    upright = Image.new("RGB", (300, 200), "white")
    upright.paste((0, 0, 0), (0, 0, 60, 60))
    stored = upright.transpose(_INVERSE[orientation]) if orientation in _INVERSE else upright
    data = with_orientation(stored, orientation, fmt)
    with Image.open(io.BytesIO(data)) as check:
        assert marker_corner(ImageOps.exif_transpose(check)) == "top-left"  # the fixture is right
    (page,) = render(data)
    assert (page.width, page.height) == (300, 200)
    assert marker_corner(decoded(page)) == "top-left"


# --- frames --------------------------------------------------------------------------------------------


def frames(count: int) -> list[Image.Image]:
    return [document_image((120 + 10 * index, 90), colour=index % 2 == 1) for index in range(count)]


@pytest.mark.parametrize("fmt", ["TIFF", "GIF", "WEBP"])
def test_each_frame_is_a_page(fmt: str) -> None:
    images = frames(4)
    if fmt != "TIFF":
        images = [image.resize((120, 90)) for image in images]
    data = encode_image(images[0], fmt, save_all=True, append_images=images[1:])
    pages = render(data)
    assert [page.index for page in pages] == [0, 1, 2, 3]
    if fmt == "TIFF":
        assert [page.width for page in pages] == [120, 130, 140, 150]
    selected = render(data, pages="2,4")
    assert [page.index for page in selected] == [1, 3]
    with pytest.raises(PageSelectionError, match="only 4 pages"):
        render(data, pages="5")


def test_multi_page_tiff_with_mixed_modes() -> None:
    first, second, third = (
        document_image((200, 100)),
        document_image((100, 200)).convert("1"),
        document_image().convert("CMYK"),
    )
    data = encode_image(first, "TIFF", save_all=True, append_images=[second, third])
    pages = render(data)
    assert [(page.width, page.height) for page in pages] == [(200, 100), (100, 200), BUDGET.fit(1200, 1600)]


def test_too_many_frames_is_refused() -> None:
    images = frames(5)
    data = encode_image(images[0], "TIFF", save_all=True, append_images=images[1:])
    with pytest.raises(DocumentTooLargeError, match="select some with pages="):
        ImageRenderer(max_frames=4).open(Document.from_bytes(data))


def test_a_jpeg_is_one_page() -> None:
    assert len(render(photo_jpeg(200, 150))) == 1


# --- sizing --------------------------------------------------------------------------------------------


def test_small_images_are_never_upscaled() -> None:
    (page,) = render(encode_image(document_image((300, 200)), "PNG"))
    assert (page.width, page.height, page.scale) == (300, 200, 1.0)


@pytest.mark.parametrize("size", [(4961, 7016), (7000, 400), (400, 7000), (3000, 3000)])
def test_large_images_are_fitted_to_the_budget(size: tuple[int, int]) -> None:
    (page,) = render(photo_jpeg(*size, quality=60))
    assert (page.width, page.height) == BUDGET.fit(*size)
    assert page.scale == pytest.approx(page.width / size[0])


def test_document_images_become_palette_pngs_and_photos_jpeg() -> None:
    (document,) = render(encode_image(document_image((1000, 1400)), "PNG"))
    assert document.media_type == "image/png"
    (photo,) = render(encode_image(Image.open(io.BytesIO(photo_jpeg(800, 600))), "PNG"))
    assert photo.media_type == "image/jpeg"  # a photo saved as PNG: JPEG is far smaller
    (jpeg,) = render(photo_jpeg(800, 600))
    assert jpeg.media_type == "image/jpeg"


def test_greyscale_photos_are_greyscale_jpegs() -> None:
    (page,) = render(photo_jpeg(400, 300, grey=True))
    assert decoded(page).mode == "L"


def test_byte_budget_is_met() -> None:
    budget = ImageBudget(max_bytes=20_000)
    (page,) = render(photo_jpeg(2000, 1500), budget)
    assert len(page.data) <= 20_000
    assert page.width / page.height == pytest.approx(2000 / 1500, abs=0.01)


# --- failures ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("width", "height"), [(30_000, 30_000), (10_000, 9_000)])
@pytest.mark.parametrize("warning_filter", ["error", "ignore", "default"])
def test_decompression_bombs_are_typed_and_pillow_stays_quiet(width: int, height: int, warning_filter: str) -> None:
    data = png_header_only(width, height)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter(warning_filter)
        with pytest.raises(DecompressionBombError, match="decompression bomb"):
            open_document(Document.from_bytes(data))
    assert not [warning for warning in caught if issubclass(warning.category, Image.DecompressionBombWarning)]


def test_our_own_pixel_limit_applies_per_frame() -> None:
    small, big = document_image((100, 100)), document_image((1500, 1000))
    data = encode_image(small, "TIFF", save_all=True, append_images=[big])
    renderer = ImageRenderer(max_image_pixels=1_000_000)
    source = renderer.open(Document.from_bytes(data))  # frame 1 is fine, frame 2 is checked when reached
    pages = source.render(BUDGET)
    assert next(pages).index == 0
    with pytest.raises(DecompressionBombError) as info:
        next(pages)
    assert info.value.page == 2


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "TIFF", "WEBP", "BMP"])
def test_truncated_images_are_corrupt_document_errors(fmt: str) -> None:
    image = Image.open(io.BytesIO(photo_jpeg(300, 200))).convert("P" if fmt == "GIF" else "RGB")
    data = encode_image(image, fmt)
    truncated = data[: len(data) // 2]
    with pytest.raises(CorruptDocumentError, match="damaged or truncated"):
        render(truncated)


def test_heic_renders_when_pillow_heif_is_installed() -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    data = encode_image(document_image((320, 240), colour=True), "HEIF", quality=90)
    (page,) = render(data)
    assert page.media_type == "image/jpeg"
    assert (page.width, page.height) == (320, 240)


def test_heic_without_the_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # as if not installed
    header = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 32
    with pytest.raises(MissingDependencyError, match=r'pip install "invoiceai-claude\[heic\]"') as info:
        open_document(Document.from_bytes(header))
    assert info.value.extra == "heic"


def test_images_have_no_text_layer_and_no_pdf() -> None:
    source = open_document(Document.from_bytes(encode_image(document_image((50, 50)), "PNG")))
    assert source.text_layers() == [None]
    assert source.pdf_bytes() is None


@pytest.mark.parametrize(
    ("size", "budget"),
    [
        ((1, 901), ImageBudget(max_long_edge=257, max_pixels=256)),
        ((901, 1), ImageBudget(max_long_edge=257, max_pixels=256)),
        ((3, 10_000), ImageBudget(max_pixels=5_000)),
    ],
)
def test_slivers_stay_within_the_pixel_budget(size: tuple[int, int], budget: ImageBudget) -> None:
    # Rounding the short side up to one pixel must not push the area past max_pixels.
    (page,) = render(encode_image(Image.new("L", size, 200), "PNG"), budget)
    assert page.width * page.height <= budget.max_pixels
    assert min(page.width, page.height) == 1
