"""Regenerates examples/sample-scan.jpg: the sample invoice as a slightly skewed, noisy office scan.

The page is the one ``make_sample.py`` draws for the Factur-X sample (same fictional invoice),
but as a plain JPEG with no XML inside, so invoiceai must read it with Claude. That makes it
the file to try the model path on: ``invoiceai extract --dry-run examples/sample-scan.jpg``
shows the pages, tokens and cost without a key; with ``ANTHROPIC_API_KEY`` set,
``invoiceai extract examples/sample-scan.jpg`` reads it. Run from the project root:

    python examples/make_scan.py [OUTPUT]
"""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path
from types import ModuleType

from PIL import Image, ImageChops, ImageFilter

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "sample-scan.jpg"
SKEW_DEGREES = 0.7  # a sheet fed slightly crooked
NOISE_SEED = 2026  # fixed, so a rerun draws the same speckles


def _sample_module() -> ModuleType:
    # examples/ is not a package: load the sibling script by path.
    spec = importlib.util.spec_from_file_location("make_sample", HERE / "make_sample.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def scan_image() -> Image.Image:
    """The sample page as a scanner would return it: grey paper, skew, blur and speckles."""
    sample = _sample_module()
    page: Image.Image = sample.draw_page(sample.sample_invoice())
    paper = Image.new("L", page.size, 236)
    # Ink darkens the paper; white stays paper-grey.
    page = Image.composite(page, paper, page.point(lambda value: 255 - value))
    page = page.rotate(SKEW_DEGREES, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=200)
    page = page.filter(ImageFilter.GaussianBlur(0.6))
    # About one pixel in a hundred gets a faint speck: the dust and toner of a real scan.
    randoms = Image.frombytes("L", page.size, random.Random(NOISE_SEED).randbytes(page.width * page.height))
    specks = randoms.point(lambda value: 60 if value < 2 else 0)
    return ImageChops.subtract(page, specks)


def main(argv: list[str] | None = None) -> None:
    """Writes the scan (to OUTPUT or the path given)."""
    args = sys.argv[1:] if argv is None else argv
    output = Path(args[0]) if args else OUTPUT
    scan_image().save(output, format="JPEG", quality=80, optimize=True, dpi=(150, 150))
    print(f"wrote {output} ({output.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
