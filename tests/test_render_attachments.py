"""The invoice XML attached to a PDF, read by the PDF layer from the document the pages render from."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import pytest

import invoiceai.einvoice
import invoiceai.render.pdf
from conftest import corpus_params
from einvoice_corpus import PDF_DIR
from invoiceai import Settings
from invoiceai.documents import Document
from invoiceai.einvoice import HostileXMLError, read_einvoice
from invoiceai.errors import CorruptDocumentError, InputError, NotAnInvoiceError, PageSelectionError
from invoiceai.pages import ImageBudget
from invoiceai.render import open_document
from invoiceai.render.limits import RenderLimits
from invoiceai.render.pdf import EmbeddedXml, PdfRenderer, find_embedded_invoice, read_embedded_invoice
from render_fixtures import build_pdf, count_pdf_parses, invoice_page

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sample-facturx.pdf"
# The tests that count pdfium's parses, or watch the open document, look at this process: they
# open PDFs here, without the sandbox (test_render_sandbox.py checks the same of the workers).
IN_PROCESS = RenderLimits(render_memory_limit=0)
IN_PROCESS_SETTINGS = Settings.load(render_memory_limit=0)
BUDGET = ImageBudget(max_long_edge=400, max_pixels=160_000)
CII_NS = 'xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100" ' + (
    'xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"'
)
ORDER_X = (
    b'<rsm:SCRDMCCBDACIOMessageStructure xmlns:rsm="urn:un:unece:uncefact:data:SCRDMCCBDACIOMessageStructure:100">'
    b"</rsm:SCRDMCCBDACIOMessageStructure>"
)


def _cii(invoice_id: str, prolog: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}<rsm:CrossIndustryInvoice {CII_NS}>'
        f"<rsm:ExchangedDocument><ram:ID>{invoice_id}</ram:ID></rsm:ExchangedDocument>"
        "</rsm:CrossIndustryInvoice>"
    ).encode()


def _pdf_with(name: str, data: bytes, *, pages: int = 1) -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(100, 100)
    writer.add_attachment(name, data)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_reading_never_imports_anthropic(tmp_path: Path) -> None:
    sample = Path(__file__).resolve().parent.parent / "examples" / "sample-facturx.pdf"
    code = (
        "import sys, pathlib; from invoiceai.render.pdf import read_embedded_invoice; "
        f"inv = read_embedded_invoice(pathlib.Path({str(sample)!r}).read_bytes()); "
        "print(inv is not None, 'anthropic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "True False"


def test_hostile_invoice_attachment_is_refused_with_its_name() -> None:
    pdf = _pdf_with("factur-x.xml", _cii("&x;", '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'))
    with pytest.raises(HostileXMLError, match=r"factur-x\.xml"):
        find_embedded_invoice(pdf)


def test_malformed_invoice_attachment_is_corrupt() -> None:
    with pytest.raises(CorruptDocumentError, match=r"factur-x\.xml"):
        find_embedded_invoice(_pdf_with("factur-x.xml", b"<r>broken"))


def test_unrelated_xml_attachment_is_no_invoice() -> None:
    assert find_embedded_invoice(_pdf_with("metadata.xml", b"<catalogue/>")) is None
    assert find_embedded_invoice(_pdf_with("notes.txt", b"hello")) is None


# -- the page source answers from its open document -------------------------------------------


def test_one_open_serves_the_attachment_the_text_and_the_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _pdf_with("factur-x.xml", _cii("INV-1"), pages=2)
    parses = count_pdf_parses(monkeypatch)
    source = open_document(Document.from_bytes(data), pages="2", settings=IN_PROCESS_SETTINGS)
    embedded = source.embedded_einvoice()
    assert embedded is not None
    assert (embedded.name, embedded.syntax, embedded.source) == ("factur-x.xml", "cii", "embedded_files")
    assert source.embedded_einvoice() is embedded  # asked twice, scanned once
    assert source.text_layers() == [None]
    assert [page.index for page in source.render(BUDGET)] == [1]
    assert [page.index for page in source.render(BUDGET.capped(200))] == [1]
    assert source.pdf_bytes() != data  # a one-page subset, written from the same document
    assert (parses.pdfium, parses.pypdf) == (1, 0)


def test_the_sample_extraction_path_parses_the_pdf_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # What the extractor does with a Factur-X PDF: open it, ask for the XML, read the XML.
    parses = count_pdf_parses(monkeypatch)
    with PdfRenderer(limits=IN_PROCESS).open(Document.from_bytes(SAMPLE.read_bytes())) as source:
        embedded = source.embedded_einvoice()
        assert embedded is not None
        invoice = read_einvoice(embedded.data)
    assert invoice == read_embedded_invoice(SAMPLE.read_bytes(), limits=IN_PROCESS)
    assert parses.pdfium == 2  # the source's open, then read_embedded_invoice's own open for comparison
    assert parses.pypdf == 0


def test_the_pages_can_be_chosen_after_the_attachment_from_the_same_open(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _pdf_with("factur-x.xml", _cii("INV-1"), pages=3)
    parses = count_pdf_parses(monkeypatch)
    everything = PdfRenderer(processes=2, min_pages_for_processes=3, limits=IN_PROCESS).open(Document.from_bytes(data))
    assert everything.processes == 2
    assert everything.embedded_einvoice() is not None
    with pytest.raises(PageSelectionError, match="3 pages"):
        everything.with_pages("4")
    second = everything.with_pages("2")
    assert (second.page_numbers, second.processes, everything.page_numbers) == ((2,), 0, (1, 2, 3))
    assert [page.index for page in second.render(BUDGET)] == [1]
    assert (parses.pdfium, parses.pypdf) == (1, 0)


def test_a_plain_pdf_has_no_embedded_invoice_and_no_pypdf_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    parses = count_pdf_parses(monkeypatch)
    source = open_document(Document.from_bytes(build_pdf([invoice_page()])), settings=IN_PROCESS_SETTINGS)
    assert source.embedded_einvoice() is None
    assert (parses.pdfium, parses.pypdf) == (1, 0)


def test_the_source_raises_what_the_bytes_function_raises() -> None:
    order = open_document(Document.from_bytes(_pdf_with("order-x.xml", ORDER_X)))
    with pytest.raises(NotAnInvoiceError, match=r"order-x\.xml"):
        order.embedded_einvoice()
    broken = open_document(Document.from_bytes(_pdf_with("factur-x.xml", b"<r>broken")))
    with pytest.raises(CorruptDocumentError, match=r"factur-x\.xml"):
        broken.embedded_einvoice()
    # A broken attachment does not spoil the pages.
    assert len(list(broken.render(BUDGET))) == 1


@pytest.mark.parametrize("path", corpus_params(PDF_DIR, "*.pdf"))
def test_the_source_finds_what_the_bytes_function_finds(path: Path) -> None:
    data = path.read_bytes()
    try:
        expected: EmbeddedXml | type[Exception] | None = find_embedded_invoice(data)
    except InputError as exc:
        expected = type(exc)
    try:
        source = open_document(Document.from_bytes(data))
    except InputError:
        pytest.skip("pdfium cannot open this PDF: only the bytes function reads it (through pypdf)")
    with source:
        try:
            found: EmbeddedXml | type[Exception] | None = source.embedded_einvoice()
        except InputError as exc:
            found = type(exc)
    assert found == expected


def test_a_closed_source_opens_again_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    parses = count_pdf_parses(monkeypatch)
    source = open_document(
        Document.from_bytes(build_pdf([invoice_page(1), invoice_page(2)])), settings=IN_PROCESS_SETTINGS
    )
    source.close()
    source.close()  # idempotent
    assert len(list(source.render(BUDGET))) == 2
    assert parses.pdfium == 2


def test_closing_during_a_render_waits_for_its_last_page(monkeypatch: pytest.MonkeyPatch) -> None:
    parses = count_pdf_parses(monkeypatch)
    pdf = build_pdf([invoice_page(1), invoice_page(2), invoice_page(3)])
    source = open_document(Document.from_bytes(pdf), settings=IN_PROCESS_SETTINGS)
    pages = source.render(BUDGET)
    first = next(pages)
    closer = threading.Thread(target=source.close)
    closer.start()
    closer.join()
    # The document stayed open for the render in progress, which finishes from it.
    assert [first.index, *(page.index for page in pages)] == [0, 1, 2]
    assert parses.pdfium == 1
    assert source.text_layers()[0] is not None  # closed after the render; opened again here
    assert parses.pdfium == 2


def test_a_garbage_collected_source_closes_its_document() -> None:
    import gc

    source = open_document(Document.from_bytes(build_pdf([invoice_page()])), settings=IN_PROCESS_SETTINGS)
    slot = source._pdf._slot  # the test reaches in to watch the document go
    assert slot.pdf is not None
    del source
    gc.collect()
    assert slot.pdf is None


# -- einvoice is pure XML -------------------------------------------------------------------


def test_einvoice_loads_no_pdf_or_image_library() -> None:
    invoice_json = Path(__file__).resolve().parent.parent / "examples" / "invoice.json"
    code = (
        "import importlib.util, pathlib, sys\n"
        "import invoiceai.einvoice.reader, invoiceai.einvoice.writer\n"
        "from invoiceai import Invoice\n"
        "from invoiceai.einvoice import compare_invoices, read_einvoice, schema_errors, to_xml\n"
        f"invoice = Invoice.model_validate_json(pathlib.Path({str(invoice_json)!r}).read_text())\n"
        "for syntax in ('cii', 'ubl'):\n"
        "    again = read_einvoice(to_xml(invoice, syntax))\n"
        "    assert again.invoice_number == invoice.invoice_number\n"
        "    compare_invoices(again, invoice)\n"
        "if importlib.util.find_spec('facturx') is not None:\n"
        "    assert schema_errors(to_xml(invoice, 'cii')) == []\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & {'pypdfium2', 'pypdf', 'PIL', 'facturx'})\n"
        "ours = sorted({m.split('.')[1] for m in sys.modules if m.startswith('invoiceai.')})\n"
        "ours = [m for m in ours if m in ('render', 'documents')]\n"
        "print(loaded, ours)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[] []"


# -- the old names in invoiceai.einvoice --------------------------------------------------------


@pytest.mark.parametrize("name", ["to_facturx", "find_embedded_invoice", "read_embedded_invoice", "EmbeddedXml"])
def test_moved_einvoice_names_warn_and_still_work(name: str) -> None:
    assert name not in invoiceai.einvoice.__all__
    with pytest.warns(DeprecationWarning, match=r"import it from invoiceai\.render\.pdf") as caught:
        old = getattr(invoiceai.einvoice, name)
    assert old is getattr(invoiceai.render.pdf, name)
    assert caught[0].filename == __file__  # the warning points at the caller
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert getattr(invoiceai.render.pdf, name) is old
    if name == "read_embedded_invoice":
        with pytest.warns(DeprecationWarning, match="read_embedded_invoice is deprecated"):
            from invoiceai.einvoice import read_embedded_invoice as still_there
        assert still_there(SAMPLE.read_bytes()) == read_embedded_invoice(SAMPLE.read_bytes())
