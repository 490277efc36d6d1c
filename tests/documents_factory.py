"""Small invoice-like documents generated in memory, for tests that need a file but not a corpus."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw

from invoiceai.schema import Invoice

if TYPE_CHECKING:
    from pydantic import BaseModel

    from invoiceai.extractor import Extraction
    from invoiceai.schema import Finding

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_JSON = ROOT / "examples" / "invoice.json"
SAMPLE_FACTURX = ROOT / "examples" / "sample-facturx.pdf"


def example_invoice() -> Invoice:
    """The consistent example invoice shipped in examples/invoice.json."""
    return Invoice.model_validate_json(EXAMPLE_JSON.read_bytes())


def page_image(label: str, size: tuple[int, int] = (620, 877)) -> Image.Image:
    """A white A4-ish page with ``label`` written on it (distinct labels give distinct bytes)."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.text((40, 40), f"INVOICE {label}", fill="black")
    for row in range(8):
        draw.text((40, 120 + 30 * row), f"Item {row + 1}   2 x 10.00   20.00", fill="black")
    return image


def png_invoice(label: str = "1", size: tuple[int, int] = (620, 877)) -> bytes:
    """A PNG page with ``label`` on it."""
    buffer = io.BytesIO()
    page_image(label, size).save(buffer, format="PNG")
    return buffer.getvalue()


def pdf_invoice(label: str = "1", pages: int = 1) -> bytes:
    """An image-only PDF with ``pages`` pages, each labelled."""
    images = [page_image(f"{label} p{number}") for number in range(1, pages + 1)]
    buffer = io.BytesIO()
    images[0].save(buffer, format="PDF", save_all=True, append_images=images[1:], resolution=72.0)
    return buffer.getvalue()


def broken_invoice() -> Invoice:
    """The example invoice with a total that breaks the arithmetic rules."""
    from decimal import Decimal

    invoice = example_invoice()
    invoice.total = Decimal("1.00")
    return invoice


def sample_extraction(data: BaseModel, findings: tuple[Finding, ...] = ()) -> Extraction[BaseModel]:
    """A model result of a one-page scan with fixed usage, timings and ids, for display tests."""
    from decimal import Decimal

    from invoiceai.extractor import Extraction, Timings
    from invoiceai.usage import Usage

    return Extraction(
        data=data,
        usage=Usage(input_tokens=1500, output_tokens=400, requests=1, cost_usd=Decimal("0.0105")),
        findings=findings,
        origin="model",
        document_id="ab" * 32,
        timings=Timings(load=0.5, backend=1.81),
        source="scan.jpg",
        model="claude-sonnet-5",
    )
