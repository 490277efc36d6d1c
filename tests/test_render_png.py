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


def pixels(size: tuple[int, int], levels: int) -> st.SearchStrategy[bytes]:
    """All of an image's pixels in one draw: one byte per pixel, each below ``levels``.

    One ``st.binary`` instead of a list of integers (up to 2,800 draws per example) keeps
    generation cheap, so a busy machine does not trip Hypothesis's ``too_slow`` health check.
    """
    count = size[0] * size[1]
    raw = st.binary(min_size=count, max_size=count)
    return raw if levels == 256 else raw.map(lambda data: bytes(value % levels for value in data))


@settings(max_examples=60)
@given(sizes.flatmap(lambda size: st.tuples(st.just(size), pixels(size, 16))))
def test_grey_4_bit_round_trips(case: tuple[tuple[int, int], bytes]) -> None:
    size, values = case
    image = Image.frombytes("L", size, values)
    back = decoded(write_png(image, bits=4))
    # A 4-bit grey PNG decodes to 8-bit L with each level scaled by 17 (15 -> 255).
    assert back.convert("L").tobytes() == bytes(value * 17 for value in values)


def palette_images(size: tuple[int, int], colours: int) -> st.SearchStrategy[tuple[int, Image.Image]]:
    """A palette image of ``colours`` colours: its indices and its palette, each drawn in one call."""

    def build(indices: bytes, palette: bytes) -> tuple[int, Image.Image]:
        image = Image.frombytes("P", size, indices)
        image.putpalette(palette)
        return colours, image

    return st.builds(build, pixels(size, colours), st.binary(min_size=3 * colours, max_size=3 * colours))


@settings(max_examples=60)
@given(st.tuples(sizes, st.integers(1, 256)).flatmap(lambda args: palette_images(*args)))
def test_palette_round_trips_at_the_fewest_bits(case: tuple[int, Image.Image]) -> None:
    colours, image = case
    encoded = write_png(image)
    back = decoded(encoded)
    assert back.mode == "P"
    assert back.convert("RGB").tobytes() == image.convert("RGB").tobytes()
    expected_depth = next(bits for bits in (1, 2, 4, 8) if colours <= 1 << bits)
    assert encoded[24] == expected_depth  # IHDR bit depth


@given(sizes.flatmap(lambda size: st.tuples(st.just(size), pixels(size, 256))))
def test_one_bit_and_eight_bit_grey_round_trip(case: tuple[tuple[int, int], bytes]) -> None:
    size, values = case
    grey = Image.frombytes("L", size, values)
    assert decoded(write_png(grey)).tobytes() == grey.tobytes()
    mono = grey.convert("1")
    assert decoded(write_png(mono)).convert("1").tobytes() == mono.tobytes()


def test_what_it_cannot_write_is_refused() -> None:
    assert not can_write(Image.new("RGB", (2, 2)), None)
    assert not can_write(Image.new("L", (2, 2)), 2)
    with pytest.raises(ValueError, match="RGB"):
        write_png(Image.new("RGB", (2, 2)))
