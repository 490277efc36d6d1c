"""Bounded memory: a 35 MP JPEG and a long PDF, measured as peak RSS in a fresh process.

Pillow and pdfium allocate outside Python's allocator, so tracemalloc cannot see them; these
tests read the kernel's peak resident set size (VmHWM), resetting it just before the work.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from invoiceai.pages import ImageBudget
from render_fixtures import build_pdf, invoice_page

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(
    not Path("/proc/self/clear_refs").exists(), reason="peak-RSS measurement needs Linux /proc"
)

_MEASURE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path

    import PIL.Image, pypdfium2  # loaded before the baseline, as in a running service
    from invoiceai.documents import Document
    from invoiceai.pages import ImageBudget
    from invoiceai.render import open_document

    def status(field):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # MiB
        raise RuntimeError(field)

    def reset_peak():
        Path("/proc/self/clear_refs").write_text("5")

    data = Path(sys.argv[1]).read_bytes()
    result = {}
    reset_peak()
    baseline = status("VmRSS")
    pages = 0
    for page in open_document(Document.from_bytes(data)).render(ImageBudget()):
        pages += 1
        if pages == 10:
            result["after_10_pages"] = status("VmRSS") - baseline
        result["last_page"] = [page.width, page.height, len(page.data)]
    result["ours"] = status("VmHWM") - baseline
    result["pages"] = pages
    if sys.argv[2] == "with-control":
        # What decoding the picture in full would have cost, to show the measurement can see it.
        reset_peak()
        baseline = status("VmRSS")
        image = PIL.Image.open(Path(sys.argv[1]))
        image.load()
        result["full_decode"] = status("VmHWM") - baseline
    print(json.dumps(result))
    """
)


def measure(path: Path, control: bool) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path), "with-control" if control else "plain"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=True,
    )
    measured: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return measured


@pytest.fixture(scope="module")
def photo_35mp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    width, height = 7216, 4850  # 35 MP, a full-frame camera photo
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    draw = ImageDraw.Draw(image)
    for row in range(0, height, 40):
        draw.line((0, row, width, row), fill=(20, 20, 20), width=3)
    path = tmp_path_factory.mktemp("photos") / "camera.jpg"
    image.save(path, "JPEG", quality=92)
    return path


def test_a_35_megapixel_jpeg_renders_in_bounded_memory(photo_35mp: Path) -> None:
    result = measure(photo_35mp, control=True)
    width, height, size = result["last_page"]  # type: ignore[misc]
    assert (width, height) == ImageBudget().fit(7216, 4850)
    assert size < 5 * 1024 * 1024
    full_decode = float(result["full_decode"])  # type: ignore[arg-type]
    ours = float(result["ours"])  # type: ignore[arg-type]
    assert full_decode > 90  # 35 MP of RGB is ~100 MiB: the measurement sees allocations
    assert ours < 40, f"rendering took {ours:.0f} MiB over the baseline"
    assert ours < full_decode / 3


def test_a_long_pdf_is_rendered_lazily_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "statement.pdf"
    path.write_bytes(build_pdf([invoice_page(number, colour=number % 3 == 0) for number in range(1, 121)]))
    result = measure(path, control=False)
    assert result["pages"] == 120
    after_10 = float(result["after_10_pages"])  # type: ignore[arg-type]
    peak = float(result["ours"])  # type: ignore[arg-type]
    # A page is a few MB while it is being encoded; 120 pages held at once would be >400 MB.
    assert peak < 60, f"peak {peak:.0f} MiB over the baseline"
    assert peak - after_10 < 30, "memory kept growing after the first pages"
