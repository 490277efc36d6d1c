"""Scans and pictures at the floor's CPU: the format read from a sample, the filter by shrink factor."""

from __future__ import annotations

import io
import math

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageStat

from invoiceai.documents import Document
from invoiceai.pages import ImageBudget
from invoiceai.render import open_document
from invoiceai.render.encode import encode_image, has_colour
from invoiceai.render.image_decode import CHEAP_SHRINKS, TINY_SHRINK, resample_filter
from invoiceai.render.lossless import CLOSE_CALL, encode_lossless, encode_smaller, lossless_ratio
from invoiceai.render.png import write_png
from render_fixtures import document_image, photo_jpeg
from render_fixtures import encode_image as saved

BUDGET = ImageBudget()
Filter = Image.Resampling


def photo(size: tuple[int, int] = (900, 1200)) -> Image.Image:
    """A photograph stored losslessly (noise and a gradient): JPEG is far smaller."""
    return Image.open(io.BytesIO(photo_jpeg(*size))).convert("RGB")


def illustration(size: tuple[int, int] = (900, 1200), *, grey: bool = False) -> Image.Image:
    """Flat colour shapes on a mid-grey ground (not paper and ink): a lossless PNG is far smaller."""
    image = Image.new("RGB", size, (128, 128, 128))
    draw = ImageDraw.Draw(image)
    width, height = size
    for index in range(24):
        left, top = (index * 97) % (width - 200), (index * 151) % (height - 200)
        colour = ((index * 40) % 256, (index * 90) % 256, (index * 150) % 256)
        draw.ellipse((left, top, left + 180, top + 140), fill=colour, outline=(0, 0, 0), width=3)
    return image.convert("L") if grey else image


def grey_scan(size: tuple[int, int] = (900, 1200)) -> Image.Image:
    """A grey page with a shaded background and text lines: the two formats are close."""
    gradient = Image.linear_gradient("L").resize(size).point(lambda value: 150 + value // 3)
    lines = document_image(size, mode="L")
    return ImageChops.darker(gradient, lines)


def chart(size: tuple[int, int] = (900, 1200)) -> Image.Image:
    """Coloured bars over a colour gradient."""
    gradient = Image.linear_gradient("L").resize(size)
    image = Image.merge("RGB", (gradient, gradient.transpose(Image.Transpose.ROTATE_180), gradient))
    draw = ImageDraw.Draw(image)
    for index in range(10):
        draw.rectangle((60 + index * 80, 1100 - index * 90, 110 + index * 80, 1150), fill=(200, 40 + index * 20, 30))
    return image


GENERATED = {"photo": photo, "illustration": illustration, "grey illustration": lambda: illustration(grey=True)}
GENERATED |= {"grey scan": grey_scan, "chart": chart}


def full_sizes(image: Image.Image) -> tuple[int, int]:
    """(lossless PNG, JPEG) bytes of the whole image, both encoded: what the choice used to cost."""
    png = encode_lossless(image, BUDGET)
    jpeg = encode_image(image, BUDGET, photographic=True)
    assert png is not None
    return len(png.data), len(jpeg.data)


@pytest.mark.parametrize("name", list(GENERATED))
def test_the_sample_choice_matches_the_full_size_choice(name: str) -> None:
    image = GENERATED[name]()
    png, jpeg = full_sizes(image)
    chosen = encode_smaller(image, BUDGET, source_size=image.size)
    # The smaller of the two, or within a few percent of it when the sample called it close.
    assert len(chosen.data) <= 1.05 * min(png, jpeg)
    if not 0.8 <= png / jpeg <= 1.25:
        assert chosen.media_type == ("image/png" if png < jpeg else "image/jpeg")


@pytest.mark.parametrize("name", list(GENERATED))
def test_the_sample_never_sends_the_clear_loser_alone(name: str) -> None:
    image = GENERATED[name]()
    if not has_colour(image):
        image = image.convert("L")  # as encode_smaller encodes it
    png, jpeg = full_sizes(image)
    estimate = lossless_ratio(image)
    assert estimate == pytest.approx(png / jpeg, rel=0.35)
    low, high = CLOSE_CALL
    if estimate <= low:  # PNG alone: it must not be more than a few percent over the JPEG
        assert png <= 1.05 * jpeg
    if estimate >= high:  # JPEG alone: likewise
        assert jpeg <= 1.05 * png


def test_a_photo_is_never_encoded_as_a_full_size_png(monkeypatch: pytest.MonkeyPatch) -> None:
    picture = photo()
    saves: list[tuple[str, tuple[int, int]]] = []
    original = Image.Image.save

    def spy(self: Image.Image, fp: object, format: str | None = None, **options: object) -> None:
        saves.append((str(format), self.size))
        original(self, fp, format, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(Image.Image, "save", spy)
    chosen = encode_smaller(picture, BUDGET, source_size=picture.size)
    assert chosen.media_type == "image/jpeg"
    assert ("JPEG", picture.size) in saves
    assert ("PNG", picture.size) not in saves  # only the sample was written as PNG
    assert any(kind == "PNG" and size[1] < picture.height for kind, size in saves)


def test_a_photo_and_a_flat_illustration_stored_as_png_pages() -> None:
    # Neither is paper and ink: the photo becomes a JPEG, the illustration stays a lossless PNG.
    for picture, expected in ((photo(), "image/jpeg"), (illustration(), "image/png")):
        source = open_document(Document.from_bytes(saved(picture, "PNG")))
        (page,) = source.render(BUDGET)
        assert page.media_type == expected
        if expected == "image/png":
            decoded = Image.open(io.BytesIO(page.data)).convert("RGB")
            assert ImageChops.difference(decoded, picture).getbbox() is None  # lossless


def test_a_budget_too_small_for_the_png_falls_back_to_jpeg() -> None:
    picture = illustration()
    png, _ = full_sizes(picture)
    budget = ImageBudget(max_bytes=png - 1)
    chosen = encode_smaller(picture, budget, source_size=picture.size)
    assert chosen.media_type == "image/jpeg"
    assert len(chosen.data) <= budget.max_bytes


def test_grey_lossless_pngs_keep_every_pixel() -> None:
    scan = grey_scan()
    encoded = encode_lossless(scan, BUDGET)
    assert encoded is not None
    assert ImageChops.difference(Image.open(io.BytesIO(encoded.data)), scan).getbbox() is None


@pytest.mark.parametrize("strategy", [0, 1, 3])
def test_write_png_round_trips_with_any_zlib_strategy(strategy: int) -> None:
    scan = grey_scan((300, 200))
    data = write_png(scan, level=6, strategy=strategy)
    assert ImageChops.difference(Image.open(io.BytesIO(data)), scan).getbbox() is None


# --- resampling -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scale", "expected"),
    [
        (0.98, Filter.BOX),  # a tiny shrink
        (0.95, Filter.LANCZOS),  # a mild one: Hamming's blur would show
        (0.85, Filter.HAMMING),
        (0.73, Filter.HAMMING),
        (0.6, Filter.HAMMING),
        (0.55, Filter.LANCZOS),  # below the cheap range, no whole-factor reduction first
        (0.4, Filter.HAMMING),  # reduced by 2 first: the filter's step is 0.8
        (0.3634, Filter.HAMMING),  # a 300 dpi A4 page into the budget: 2x, then 0.73
        (0.32, Filter.LANCZOS),  # reduced by 3 first: the step is 0.96
    ],
)
def test_the_filter_follows_the_last_step_of_the_shrink(scale: float, expected: Filter) -> None:
    size = (10_000, 10_000)
    target = (round(size[0] * scale), round(size[1] * scale))
    assert resample_filter(size, target) is expected


def test_the_cheap_range_sits_between_the_tiny_shrink_and_half() -> None:
    low, high = CHEAP_SHRINKS
    assert 0.5 <= low < high <= TINY_SHRINK


def psnr(first: Image.Image, second: Image.Image) -> float:
    squares = ImageStat.Stat(ImageChops.difference(first, second)).sum2
    mse = sum(squares) / (len(squares) * first.width * first.height)
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


@pytest.mark.parametrize("size", [(1240, 1754), (1080, 1527), (2480, 3508)], ids=["150 dpi", "0.83x", "300 dpi"])
def test_hamming_is_close_to_lanczos_on_a_document(size: tuple[int, int]) -> None:
    page = document_image(size, mode="L", colour=False)
    target = BUDGET.fit(*size)
    chosen = resample_filter(size, target)
    assert chosen is Filter.HAMMING
    cheap = page.resize(target, chosen, reducing_gap=1.0)
    lanczos = page.resize(target, Filter.LANCZOS, reducing_gap=1.0)
    assert psnr(cheap, lanczos) >= 30


def test_a_150_dpi_scan_is_resampled_with_hamming(monkeypatch: pytest.MonkeyPatch) -> None:
    filters: list[tuple[tuple[int, int], object]] = []
    original = Image.Image.resize

    def spy(self: Image.Image, *args: object, **kwargs: object) -> Image.Image:
        filters.append((tuple(args[0]), args[1] if len(args) > 1 else kwargs.get("resample")))  # type: ignore[arg-type]
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Image.Image, "resize", spy)
    size = (1240, 1754)
    (page,) = open_document(Document.from_bytes(saved(document_image(size, mode="L"), "TIFF"))).render(BUDGET)
    target = BUDGET.fit(*size)
    assert [resample for to, resample in filters if to == target] == [Filter.HAMMING]
    assert (page.width, page.height) == target
