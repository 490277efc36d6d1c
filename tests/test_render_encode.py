"""Palette choice for text and line-art pages: 4-bit grey, 4-bit palette, or 8-bit palette."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from invoiceai.pages import ImageBudget
from invoiceai.render.encode import encode_image, page_palette

BUDGET = ImageBudget()
GREY, PALETTE = 0, 3  # PNG colour types
CUBE = [(red, green, blue) for red in range(0, 256, 51) for green in range(0, 256, 51) for blue in range(0, 256, 51)]
COLOURS = [colour for colour in CUBE if len(set(colour)) > 1]
GREYS = [(level * 17,) * 3 for level in range(16)]


def png_header(data: bytes) -> tuple[int, int]:
    """(bit depth, colour type) from a PNG's IHDR."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return data[24], data[25]


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image.convert("RGB")


def blocks(colours: list[tuple[int, int, int]], *, size: int = 8, columns: int = 16) -> Image.Image:
    """A white page with one ``size`` x ``size`` block (on the 4-pixel grid) per colour."""
    rows = len(colours) // columns + 1
    image = Image.new("RGB", (columns * size + 40, rows * size + 40), "white")
    draw = ImageDraw.Draw(image)
    for position, colour in enumerate(colours):
        left, top = 20 + position % columns * size, 20 + position // columns * size
        draw.rectangle((left, top, left + size - 1, top + size - 1), fill=colour)
    return image


def text_page(*, banner: tuple[int, int, int] | None = None) -> Image.Image:
    image = Image.new("RGB", (600, 800), "white")
    draw = ImageDraw.Draw(image)
    if banner is not None:
        draw.rectangle((20, 20, 580, 80), fill=banner)
    for line in range(30):
        draw.text((30, 100 + 20 * line), f"Item {line:02d}  copy paper A4, box of 5 reams  12.50 EUR", fill="black")
    return image


def test_a_page_without_colour_is_4_bit_grey() -> None:
    page = text_page()
    assert page_palette(page) == []
    encoded = encode_image(page, BUDGET, photographic=False)
    assert png_header(encoded.data) == (4, GREY)


def test_a_page_with_a_coloured_banner_is_a_4_bit_palette_keeping_the_colour() -> None:
    page = text_page(banner=(204, 0, 0))
    encoded = encode_image(page, BUDGET, photographic=False)
    assert png_header(encoded.data) == (4, PALETTE)
    assert decoded(encoded.data).getpixel((300, 50)) == (204, 0, 0)
    assert decoded(encoded.data).getpixel((5, 5)) == (255, 255, 255)


def test_a_rendered_rgbx_page_encodes_as_its_rgb_copy_does() -> None:
    page = text_page(banner=(0, 51, 153))
    as_rgbx = encode_image(page.convert("RGBX"), BUDGET, photographic=False)
    assert as_rgbx.data == encode_image(page, BUDGET, photographic=False).data


def test_many_frequent_colours_keep_the_8_bit_palette_and_every_colour() -> None:
    page = blocks(COLOURS[:40] + GREYS)
    assert len(page_palette(page)) == len(CUBE) + len(GREYS)  # the whole fixed palette
    encoded = encode_image(page, BUDGET, photographic=False)
    assert png_header(encoded.data) == (8, PALETTE)
    assert decoded(encoded.data).tobytes() == page.tobytes()


def test_sixteen_greys_and_a_few_colours_keep_the_colours_beside_a_grey_ramp() -> None:
    colours = [(204, 0, 0), (0, 51, 153), (255, 204, 0)]
    page = blocks(GREYS + colours)
    entries = page_palette(page)
    assert len(entries) == 9 + len(colours)
    encoded = encode_image(page, BUDGET, photographic=False)
    assert png_header(encoded.data) == (4, PALETTE)
    back = decoded(encoded.data)
    present = {colour for _, colour in back.getcolors(256) or []}
    assert set(colours) <= present
    # Each grey lands on a ramp level at most one level (17) away.
    for _, (red, green, blue) in back.getcolors(256) or []:
        if red == green == blue:
            assert red % 34 == 0 or red == 255


def test_rare_edge_colours_are_left_out_but_frequent_ones_kept() -> None:
    frequent = [(204, 0, 0), (0, 51, 153)]
    rare = COLOURS[40:50]
    page = blocks(GREYS * 4 + frequent * 40, size=8)
    draw = ImageDraw.Draw(page)
    for position, colour in enumerate(rare):  # one sampled pixel each
        draw.point((2 + 4 * position, 2), fill=colour)
    entries = page_palette(page)
    assert len(entries) <= 16
    back = decoded(encode_image(page, BUDGET, photographic=False).data)
    assert back.getpixel((23, 20 + 4 * 8 + 3)) == frequent[0]  # the first block after the greys
    assert back.getpixel((23 + 8, 20 + 4 * 8 + 3)) == frequent[1]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(CUBE + GREYS), min_size=1, max_size=15, unique=True))
def test_pages_of_up_to_16_palette_colours_round_trip_exactly(colours: list[tuple[int, int, int]]) -> None:
    page = blocks(colours)
    encoded = encode_image(page, BUDGET, photographic=False)
    assert decoded(encoded.data).tobytes() == page.tobytes()
    depth, _ = png_header(encoded.data)
    assert depth <= 4
