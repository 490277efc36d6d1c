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
    """Whether ``value`` occurs in ``text``, by a parse of the text independent of the matcher's forms.

    Looser than the matcher (any sign, either decimal mark, either order of day and month for
    ``/`` and ``-`` dates), so it tells a value that is not printed at all (its flag is right)
    from one the matcher missed (a false alarm) and never hides one.
    """
    from invoiceai.provenance.forms import alnum_key

    if kind in ("money", "quantity", "percent"):
        return abs(value) in {abs(number) for number in numbers_in(text)}
    if kind == "date":
        return value in dates_in(text)
    if kind == "skip" and str(value) in _CURRENCY_SIGNS:  # a currency: its code, or its usual sign
        return str(value) in text or any(sign in text for sign in _CURRENCY_SIGNS[str(value)])
    return alnum_key(str(value)) in alnum_key(text)


_CURRENCY_SIGNS = {"EUR": ("€",), "USD": ("$",), "GBP": ("£",), "INR": ("₹", "Rs"), "CHF": ("Fr.",), "SEK": ("kr",)}


_NUMBER = re.compile(r"([-\u2212(]?)(\d(?:[\d.,'\u2019\u00a0\u202f]|(?<=\d) (?=\d{3}(?!\d)))*)([-)]?)")


def numbers_in(text: str) -> set[Decimal]:
    """Every number ``text`` may print, signed, under every reading of its marks (``1.234``: 1234 and 1.234)."""
    found: set[Decimal] = set()
    for match in _NUMBER.finditer(text):
        sign, body, after = match.groups()
        body = body.rstrip(".,' \u00a0\u202f\u2019")
        negative = sign in ("-", "\u2212") or after == "-" or (sign, after) == ("(", ")")
        for number in _readings(re.sub(r"['\u2019\u00a0\u202f ]", "", body)):
            found.add(-number if negative else number)
    return found


def _readings(body: str) -> set[Decimal]:
    marks = [char for char in body if char in ".,"]
    if not marks:
        return {Decimal(body)}
    readings: set[Decimal] = set()
    last = body.rfind(marks[-1])
    whole, fraction = re.sub(r"[.,]", "", body[:last]), body[last + 1 :]
    if fraction.isdigit() and (len(set(marks)) == 2 or len(marks) == 1):
        readings.add(Decimal(f"{whole or 0}.{fraction}"))  # the last mark is the decimal mark
    groups = re.split(r"[.,]", body)
    if len(set(marks)) == 1 and all(len(group) == 3 for group in groups[1:]) and groups[0]:
        readings.add(Decimal("".join(groups)))  # every mark groups thousands
    return readings


_MONTH_NAMES = {
    1: ("jan", "jän"), 2: ("feb", "fév", "fev"), 3: ("mar", "mär", "mrz", "maa"), 4: ("apr", "avr"),
    5: ("may", "mai", "mei"),
    6: ("jun", "juin"), 7: ("jul", "juil"), 8: ("aug", "aoû", "aou"), 9: ("sep",), 10: ("oct", "okt"),
    11: ("nov",), 12: ("dec", "dez", "déc"),
}  # fmt: skip
_DAY_MONTH_YEAR = re.compile(r"(?<!\d)(\d{1,2})\s*([./-])\s*(\d{1,2})\s*\2\s*(\d{4}|\d{2})(?!\d)")
_YEAR_MONTH_DAY = re.compile(r"(?<!\d)(\d{4})([./-]?)(\d{1,2})\2(\d{1,2})(?!\d)")
_NAMED = re.compile(
    r"(?:(?<!\d)(\d{1,2})(?:st|nd|rd|th)?\.?[\s-]*([^\W\d_]{3,})\.?[\s,-]*(\d{4})"
    r"|([^\W\d_]{3,})\.?[\s-]*(\d{1,2})(?:st|nd|rd|th)?\s*,?[\s-]*(\d{4}))",
    re.IGNORECASE,
)


def dates_in(text: str) -> set[dt.date]:
    """Every date ``text`` may print: numeric (``.`` day first, ``/`` and ``-`` either way), ISO, month names."""
    found: set[dt.date] = set()
    for match in _DAY_MONTH_YEAR.finditer(text):
        first, mark, second, year = match.groups()
        full = int(year) + (2000 if len(year) == 2 else 0)
        orders = [(int(first), int(second))] if mark == "." else [(int(first), int(second)), (int(second), int(first))]
        found.update(date for day, month in orders if (date := _date(full, month, day)))
    for match in _YEAR_MONTH_DAY.finditer(text):
        if date := _date(int(match.group(1)), int(match.group(3)), int(match.group(4))):
            found.add(date)
    for match in _NAMED.finditer(text):
        day, name, year = (match.group(1), match.group(2), match.group(3)) if match.group(1) else match.group(5, 4, 6)
        month = next((number for number, names in _MONTH_NAMES.items() if name.casefold().startswith(names)), None)
        if month and (date := _date(int(year), month, int(day))):
            found.add(date)
    return found


def _date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


# -- realistic mutations: the errors a model makes --------------------------------------------------

MUTATIONS = ("sign flip", "day/month swap", "cents dropped", "quantity + 1", "value from another row")
"""What :func:`realistic_mutations` changes, each reported on its own by ``benchmarks/grounding.py``."""
_DEDUCTED = ("allowance_amount", "allowance_total", "amount_paid")  # printed as deducted ("-5,00") or not


@dataclasses.dataclass(frozen=True)
class Mutation:
    """One value of a true invoice changed the way a model gets it wrong.

    Attributes:
        kind: One of :data:`MUTATIONS`.
        path: The changed value.
        invoice: The true invoice with that one value changed.
        hidden: Whether the new value is absent from where it should be printed (its page, or
            for line items its row), by the independent parse: a flag is then due.
    """

    kind: str
    path: str
    invoice: Invoice
    hidden: bool


def realistic_mutations(
    truth: Invoice, grounded: dict[str, FieldProvenance], rows: dict[str, str], page_text: str
) -> Iterator[Mutation]:
    """Yields :class:`Mutation` for every grounded value that one of :data:`MUTATIONS` applies to.

    Args:
        truth: The true invoice.
        grounded: Its grounded values.
        rows: For each grounded line-item value, the text of its row (the words on the line of its match).
        page_text: The text of the value's pages.
    """
    data = truth.model_dump(mode="python")
    for path, _item in grounded.items():
        name = path.rsplit(".", 1)[-1]
        value = _get(data, path)
        kind = field_kind(name, value)
        where = rows.get(path, page_text)
        for label, new in _realistic(kind, name, path, value, data, truth).items():
            changed = truth.model_dump(mode="python")
            _set(changed, path, new)
            try:
                invoice = Invoice.model_validate(changed)
            except ValueError:
                continue
            # A sign is a fact of the printed number: the signed parse decides; otherwise the loose one.
            hidden = new not in numbers_in(where) if label == "sign flip" else not printed(new, kind, where)
            yield Mutation(label, path, invoice, hidden)


def _realistic(kind: str, name: str, path: str, value: Any, data: dict[str, Any], truth: Invoice) -> dict[str, Any]:
    out: dict[str, Any] = {}
    deducted = name in _DEDUCTED or (path.startswith("allowances[") and name == "amount")
    deducted = deducted or truth.document_type == "credit_note"
    if kind == "money" and value != 0 and not deducted:
        out["sign flip"] = -value
    if kind == "money" and value != value.to_integral_value():
        out["cents dropped"] = value.to_integral_value(rounding="ROUND_DOWN")
    if kind == "date" and value.day <= 12 and value.day != value.month:
        out["day/month swap"] = value.replace(day=value.month, month=value.day)
    if name == "quantity" and value == value.to_integral_value() and value > 0:
        out["quantity + 1"] = value + 1
    head, _, rest = path.partition("].")
    if head.startswith("line_items[") and name in ("quantity", "unit_price", "amount"):
        position = int(head[len("line_items[") :])
        for other in (position + 1, position - 1):
            if 0 <= other < len(data["line_items"]):
                theirs = data["line_items"][other].get(rest)
                if theirs is not None and theirs != value:
                    out["value from another row"] = theirs
                    break
    return out
