"""Hypothesis strategies for image documents and pixel budgets (render property tests)."""

from __future__ import annotations

import dataclasses
import io
import random

from hypothesis import strategies as st
from PIL import Image, ImageDraw

from invoiceai.pages import ImageBudget

MODES_BY_FORMAT: dict[str, tuple[str, ...]] = {
    "PNG": ("1", "L", "LA", "P", "RGB", "RGBA", "I;16"),
    "JPEG": ("L", "RGB", "CMYK"),
    "TIFF": ("1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F", "YCbCr"),
    "GIF": ("P", "L"),
    "WEBP": ("RGB", "RGBA"),
    "BMP": ("1", "L", "P", "RGB"),
}
MULTI_FRAME = ("TIFF", "GIF", "WEBP")
ORIENTED = ("JPEG", "PNG", "WEBP", "TIFF")
CONTENTS = ("document", "noise", "flat", "gradient")


@dataclasses.dataclass(frozen=True)
class ImageSpec:
    """What a generated image document holds, to check its pages against."""

    data: bytes = dataclasses.field(repr=False)
    fmt: str
    mode: str
    size: tuple[int, int]
    frames: int
    orientation: int
    content: str

    @property
    def upright_size(self) -> tuple[int, int]:
        width, height = self.size
        return (height, width) if self.orientation in (5, 6, 7, 8) else (width, height)


def _pixels(size: tuple[int, int], content: str, frame: int, seed: int) -> Image.Image:
    width, height = size
    if content == "noise":
        # Seeded, not Image.effect_noise: hypothesis needs the same draws to give the same bytes.
        image = Image.frombytes("RGB", size, random.Random(seed + frame).randbytes(width * height * 3))
    elif content == "gradient":
        image = Image.linear_gradient("L").resize(size).convert("RGB")
    else:
        image = Image.new("RGB", size, (250, 250, 245) if content == "flat" else "white")
    if content == "document" or frame:
        draw = ImageDraw.Draw(image)
        for row in range(frame % 5, height, 7):
            draw.line((width // 10, row, width - width // 10, row), fill=(20, 20, 20))
        draw.rectangle((0, 0, max(0, width // 4), max(0, height // 8)), fill=(30 * frame % 255, 40, 180))
    return image


def _in_mode(image: Image.Image, mode: str) -> Image.Image:
    if mode in ("I;16", "I", "F"):
        return image.convert("L").convert(mode)
    if mode in ("LA", "RGBA"):
        converted = image.convert(mode)
        converted.putalpha(Image.linear_gradient("L").resize(image.size))
        return converted
    return image.convert(mode)


@st.composite
def image_documents(draw: st.DrawFn, max_side: int = 1800) -> ImageSpec:
    """An encoded image in a random format, mode, size, orientation and frame count."""
    fmt = draw(st.sampled_from(sorted(MODES_BY_FORMAT)))
    mode = draw(st.sampled_from(MODES_BY_FORMAT[fmt]))
    # Pick a size class first, so large images (and extreme aspect ratios) are as likely as
    # small ones; hypothesis alone favours small integers.
    bands = [(1, 8), (9, 200), (201, 900), (901, max_side)]
    usable = [band for band in bands if band[0] <= max_side]
    size = tuple(draw(st.integers(*draw(st.sampled_from(usable)))) for _ in "wh")
    frames = draw(st.integers(1, 3)) if fmt in MULTI_FRAME else 1
    orientation = draw(st.integers(1, 8)) if fmt in ORIENTED else 1
    content = draw(st.sampled_from(CONTENTS))
    seed = draw(st.integers(0, 2**32))
    images = [_in_mode(_pixels(size, content, frame, seed), mode) for frame in range(frames)]  # type: ignore[arg-type]
    options: dict[str, object] = {}
    if orientation != 1:
        exif = Image.Exif()
        exif[0x0112] = orientation
        options["exif"] = exif.tobytes()
    if frames > 1:
        options.update(save_all=True, append_images=images[1:])
    if fmt == "GIF":
        options["disposal"] = 1
    buffer = io.BytesIO()
    images[0].save(buffer, fmt, **options)
    if frames > 1:
        # Encoders merge identical consecutive frames (tiny GIFs), so count what was written.
        with Image.open(io.BytesIO(buffer.getvalue())) as written:
            frames = getattr(written, "n_frames", 1)
    return ImageSpec(buffer.getvalue(), fmt, mode, size, frames, orientation, content)  # type: ignore[arg-type]


@st.composite
def budgets(draw: st.DrawFn) -> ImageBudget:
    """Pixel budgets from thumbnail-sized to the newest models' limits."""
    long_edge = draw(st.integers(16, 2600))
    max_pixels = draw(st.integers(256, 4_000_000))
    max_bytes = draw(st.sampled_from([3_000, 20_000, 200_000, 5 * 1024 * 1024]))
    return ImageBudget(max_long_edge=long_edge, max_pixels=max_pixels, max_bytes=max_bytes)


@st.composite
def corruptions(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` truncated or with a few bytes overwritten, as damaged uploads are."""
    if draw(st.booleans()):
        return data[: draw(st.integers(0, max(0, len(data) - 1)))]
    damaged = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(damaged) - 1))
        damaged[position] = draw(st.integers(0, 255))
    return bytes(damaged)
