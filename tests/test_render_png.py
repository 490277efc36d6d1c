"""Our PNG writer: every image it writes decodes, with Pillow, to exactly the pixels it was given."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from invoiceai.render.png import can_write, write_png

sizes = st.tuples(st.integers(1, 70), st.integers(1, 40))


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@settings(max_examples=60)
@given(sizes, st.data())
def test_grey_4_bit_round_trips(size: tuple[int, int], data: st.DataObject) -> None:
    pixels = data.draw(st.lists(st.integers(0, 15), min_size=size[0] * size[1], max_size=size[0] * size[1]))
    image = Image.new("L", size)
    image.putdata(pixels)
    back = decoded(write_png(image, bits=4))
    # A 4-bit grey PNG decodes to 8-bit L with each level scaled by 17 (15 -> 255).
    assert back.convert("L").tobytes() == bytes(value * 17 for value in pixels)


@settings(max_examples=60)
@given(sizes, st.integers(1, 256), st.data())
def test_palette_round_trips_at_the_fewest_bits(size: tuple[int, int], colours: int, data: st.DataObject) -> None:
    count = size[0] * size[1]
    indices = data.draw(st.lists(st.integers(0, colours - 1), min_size=count, max_size=count))
    palette = data.draw(st.lists(st.integers(0, 255), min_size=3 * colours, max_size=3 * colours))
    image = Image.new("P", size)
    image.putpalette(palette)
    image.putdata(indices)
    encoded = write_png(image)
    back = decoded(encoded)
    assert back.mode == "P"
    assert back.convert("RGB").tobytes() == image.convert("RGB").tobytes()
    expected_depth = next(bits for bits in (1, 2, 4, 8) if colours <= 1 << bits)
    assert encoded[24] == expected_depth  # IHDR bit depth


@given(sizes, st.data())
def test_one_bit_and_eight_bit_grey_round_trip(size: tuple[int, int], data: st.DataObject) -> None:
    count = size[0] * size[1]
    grey = Image.new("L", size)
    grey.putdata(data.draw(st.lists(st.integers(0, 255), min_size=count, max_size=count)))
    assert decoded(write_png(grey)).tobytes() == grey.tobytes()
    mono = grey.convert("1")
    assert decoded(write_png(mono)).convert("1").tobytes() == mono.tobytes()


def test_what_it_cannot_write_is_refused() -> None:
    assert not can_write(Image.new("RGB", (2, 2)), None)
    assert not can_write(Image.new("L", (2, 2)), 2)
    with pytest.raises(ValueError, match="RGB"):
        write_png(Image.new("RGB", (2, 2)))
