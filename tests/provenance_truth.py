"""Ground truth for the provenance tests and ``benchmarks/grounding.py``: corpus invoices, scans, mutations.

Two sources of truth: the e-invoice PDFs, whose embedded XML (MANIFEST's ``ground_truth_path``)
is the invoice, and the invoice2data PDFs with their hand-made ``<stem>.json`` labels. The four
PDFs whose visible page contradicts their XML (MANIFEST "Cases worth a dedicated test") are left
out of the false-alarm count: there the flags are right. A *scan* is a PDF page rendered to an
image, rotated a little and JPEG-compressed; a *mutation* changes values to something that is
not printed on the page.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from invoiceai import Extraction, Extractor, Invoice, Settings
from invoiceai.einvoice import read_einvoice
from invoiceai.provenance import FieldProvenance, field_kind
from invoiceai.testing import FakeBackend

CONTRADICTING = frozenset(
    {
        "acme_invoice-42_ZUGFeRD.pdf",
        "sample_inofficial_20190125_atgp_factur-x_v_1_0.pdf",
        "MustangGnuaccountingBeispielRE-20201121_508_withBOM.pdf",
        "factur-x-invalid-xml-encoding-attribute.pdf",
    }
)
"""PDFs whose visible page is a different invoice from their XML (see the corpus MANIFEST)."""
IMAGE_ONLY = frozenset({"invalidPDF_image_only_with_facturx.pdf"})


@dataclasses.dataclass(frozen=True)
class Case:
    """One corpus document and its true invoice."""

    name: str
    pdf: Path
    truth: Invoice


def einvoice_cases(corpus: Path) -> list[Case]:
    """The e-invoice PDFs whose embedded XML is their truth, without the contradicting ones."""
    cases = []
    manifest = json.loads((corpus / "manifest.json").read_text(encoding="utf-8"))
    for entry in manifest["files"]:
        path, truth = entry["path"], entry.get("ground_truth_path")
        name = path.rsplit("/", 1)[-1]
        if not path.startswith("einvoice/pdf/") or not truth or name in CONTRADICTING | IMAGE_ONLY:
            continue
        try:
            invoice = read_einvoice((corpus / truth).read_bytes())
        except Exception:  # an Order-X order: not an invoice
            continue
        cases.append(Case(name, corpus / path, invoice))
    return cases


def invoice2data_cases(corpus: Path) -> list[Case]:
    """The invoice2data PDFs with their labels as an Invoice."""
    cases = []
    for label in sorted((corpus / "invoice2data").glob("*.json")):
        pdf = label.with_suffix(".pdf")
        if pdf.exists():
            cases.append(Case(pdf.name, pdf, _from_invoice2data(json.loads(label.read_text(encoding="utf-8"))[0])))
    return cases


def _from_invoice2data(label: dict[str, Any]) -> Invoice:
    lines = [
        {
            "description": line.get("name"), "quantity": _text(line.get("qty")),
            "unit_price": _text(line.get("price_unit", line.get("price"))), "amount": _text(line.get("price_subtotal")),
            "seller_item_id": line.get("code"),
        }
        for line in label.get("lines", []) if line.get("name") or line.get("price_subtotal") is not None
    ]  # fmt: skip
    data = {
        "invoice_number": label.get("invoice_number"), "issue_date": label.get("date"),
        "due_date": label.get("date_due"),
        "currency": label.get("currency"), "total": _text(label.get("amount")),
        "total_without_tax": _text(label.get("amount_untaxed")), "tax_total": _text(label.get("amount_tax")),
        "seller": {"vat_id": label.get("vat") or label.get("static_vat")},
        "payment": {"iban": label.get("iban"), "bic": label.get("bic")},
        "line_items": lines,
    }  # fmt: skip
    return Invoice.model_validate(data)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def extract(source: Path | bytes, truth: Invoice, **settings: Any) -> Extraction[Invoice]:
    """Extracts ``source`` with a fake backend that answers ``truth``, with provenance on."""
    options = {"provenance": True, "ocr": "auto", **settings}
    with Extractor(backend=FakeBackend(default=truth), cache=None, prefer_embedded=False,
                   settings=Settings.load(**options)) as extractor:  # fmt: skip
        return extractor.extract(source)


def checked(result: Extraction[Invoice]) -> dict[str, FieldProvenance]:
    """The values grounding decided on (grounded or ungrounded)."""
    return {
        path: item for path, item in result.provenance.fields.items() if item.grounding in ("grounded", "ungrounded")
    }


def scan(pdf: Path, *, angle: float = 1.5, quality: int = 60, dpi: int = 200) -> bytes:
    """The PDF's pages as a scan: rendered, rotated ``angle`` degrees, JPEG-compressed, in an image-only PDF."""
    import pypdfium2
    from PIL import Image

    document = pypdfium2.PdfDocument(pdf.read_bytes())
    try:
        images = []
        for index in range(len(document)):
            picture = document[index].render(scale=dpi / 72).to_pil().convert("L")
            picture = picture.rotate(angle, expand=True, fillcolor=255, resample=Image.Resampling.BICUBIC)
            buffer = io.BytesIO()
            picture.save(buffer, "JPEG", quality=quality)
            buffer.seek(0)
            images.append(Image.open(buffer))
    finally:
        document.close()
    out = io.BytesIO()
    images[0].save(out, "PDF", save_all=True, append_images=images[1:], resolution=float(dpi))
    return out.getvalue()


def mutate(
    truth: Invoice, grounded: dict[str, FieldProvenance], page_text: str, *, most: int = 8
) -> tuple[Invoice, list[str]]:
    """``truth`` with up to ``most`` of the ``grounded`` values changed to something not in ``page_text``.

    Values of every kind are picked in turn (money, dates, ids, text, quantities). A change is
    kept only when no usual printed form of the new value occurs in the page text, checked here
    with plain string search, independently of the matcher under test.
    """
    data = truth.model_dump(mode="python")
    changed: list[str] = []
    flat = re.sub(r"\s+", "", page_text).casefold()
    for path, _item in _spread(grounded):
        if len(changed) >= most:
            break
        name = path.rsplit(".", 1)[-1]
        value = _get(data, path)
        new = _changed(field_kind(name, value), value)
        if new is None or any(form in flat for form in _plain_forms(new)):
            continue
        _set(data, path, new)
        changed.append(path)
    return Invoice.model_validate(data), changed


def _spread(grounded: dict[str, FieldProvenance]) -> Iterator[tuple[str, FieldProvenance]]:
    by_kind: dict[str, list[tuple[str, FieldProvenance]]] = {}
    for path, item in grounded.items():
        by_kind.setdefault(type(item.value).__name__ + path.rsplit(".", 1)[-1][:3], []).append((path, item))
    queues = list(by_kind.values())
    while any(queues):
        for queue in queues:
            if queue:
                yield queue.pop(0)


def _changed(kind: str, value: Any) -> Any:
    if kind == "money":
        return value + Decimal("13.57") if value >= 0 else value - Decimal("13.57")
    if kind in ("quantity", "percent"):
        return value + Decimal("3.3")
    if kind == "date":
        return value + dt.timedelta(days=37)
    if kind in ("id", "unit"):
        return f"{value}Q7"
    if kind == "text":
        return f"{value} Zyxw"
    return None


def _plain_forms(value: Any) -> list[str]:
    if isinstance(value, Decimal):
        text = f"{abs(value):.2f}"
        return [text, text.replace(".", ",")]
    if isinstance(value, dt.date):
        return [value.isoformat(), value.strftime("%d.%m.%Y"), value.strftime("%m/%d/%Y"), value.strftime("%d/%m/%Y")]
    return [re.sub(r"\s+", "", str(value)).casefold()]


def _steps(path: str) -> list[str | int]:
    return [int(part) if part.isdigit() else part for part in re.findall(r"[^.\[\]]+", path)]


def _get(data: Any, path: str) -> Any:
    for step in _steps(path):
        data = data[step]
    return data


def _set(data: Any, path: str, value: Any) -> None:
    steps = _steps(path)
    for step in steps[:-1]:
        data = data[step]
    data[steps[-1]] = value


def page_texts(pdf: Path) -> list[str]:
    """Each page's text layer, as pdfium reads it (an independent view of what is printed)."""
    import pypdfium2

    document = pypdfium2.PdfDocument(pdf.read_bytes())
    try:
        texts = []
        for index in range(len(document)):
            page = document[index]
            textpage = page.get_textpage()
            texts.append(textpage.get_text_range())
            textpage.close()
            page.close()
        return texts
    finally:
        document.close()


def printed(value: Any, kind: str, text: str) -> bool:
    """Whether ``value`` occurs in ``text`` by plain substring search, more loosely than the matcher.

    Used only to tell a value that is not printed at all (an XML-only value: its flag is right)
    from one the matcher missed (a false alarm); being looser than the matcher, it never hides one.
    """
    from invoiceai.provenance.forms import alnum_key, date_forms, number_forms, numeric_key

    if kind in ("money", "quantity", "percent"):
        keys = numeric_key(text)
        return any(form in keys for form in number_forms(value) | {str(value).lstrip("-")})
    if kind == "date":
        keys = numeric_key(text)
        return any(form in keys for form in date_forms(value))
    return alnum_key(str(value)) in alnum_key(text)
