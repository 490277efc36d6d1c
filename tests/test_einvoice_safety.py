"""Hostile and sloppy XML: XXE, entity expansion, network DTDs, BOMs, bogus encodings."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from invoiceai.einvoice import HostileXMLError, read_einvoice
from invoiceai.einvoice.safe_xml import clean_xml_bytes, parse_xml
from invoiceai.errors import CorruptDocumentError, EInvoiceError, InputError, NotAnInvoiceError

CII_NS = 'xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100" ' + (
    'xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"'
)


def _cii(invoice_id: str, prolog: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}<rsm:CrossIndustryInvoice {CII_NS}>'
        f"<rsm:ExchangedDocument><ram:ID>{invoice_id}</ram:ID></rsm:ExchangedDocument>"
        "</rsm:CrossIndustryInvoice>"
    ).encode()


def test_xxe_reading_a_local_file_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE", encoding="utf-8")
    hostile = _cii("&xxe;", f'<!DOCTYPE r [<!ENTITY xxe SYSTEM "file://{secret}">]>')
    with pytest.raises(HostileXMLError) as caught:
        read_einvoice(hostile)
    assert "TOP-SECRET-VALUE" not in str(caught.value)


def test_parameter_entity_and_external_dtd_are_refused(tmp_path: Path) -> None:
    dtd = tmp_path / "evil.dtd"
    dtd.write_text('<!ENTITY leak "LEAKED">', encoding="utf-8")
    for prolog in (
        f'<!DOCTYPE r SYSTEM "file://{dtd}">',
        f'<!DOCTYPE r [<!ENTITY % ext SYSTEM "file://{dtd}"> %ext;]>',
        '<!DOCTYPE r [<!ENTITY net SYSTEM "http://127.0.0.1:9/never">]>',
    ):
        with pytest.raises(HostileXMLError):
            parse_xml(_cii("&leak;", prolog))


def test_billion_laughs_is_refused_quickly() -> None:
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)
    )
    bomb = _cii("&lol9;", f"<!DOCTYPE r [{entities}]>")
    started = time.perf_counter()
    with pytest.raises(HostileXMLError):
        read_einvoice(bomb)
    assert time.perf_counter() - started < 2


def test_quadratic_blowup_without_doctype_is_impossible() -> None:
    # Without a DTD, an entity reference is simply undefined: a well-formedness error.
    with pytest.raises(CorruptDocumentError):
        read_einvoice(_cii("&undefined;"))


def test_hostile_errors_are_einvoice_errors() -> None:
    assert issubclass(HostileXMLError, EInvoiceError)


def test_bom_and_leading_whitespace_are_stripped() -> None:
    root = parse_xml(b"\xef\xbb\xbf\r\n  " + _cii("X-1"))
    assert root.tag.endswith("CrossIndustryInvoice")


@pytest.mark.parametrize("encoding", ["UTF-8-W/O-BOM", "utf8 without bom", "NO-SUCH-CODEC"])
def test_bogus_encoding_declarations_are_replaced(encoding: str) -> None:
    data = _cii("Größe-1").replace(b'encoding="UTF-8"', f'encoding="{encoding}"'.encode())
    root = parse_xml(data)
    assert "Größe-1" in "".join(str(text) for text in root.itertext())


def test_latin1_bytes_under_a_bogus_declaration_are_transcoded() -> None:
    data = '<?xml version="1.0" encoding="LATIN-1-PLEASE!"?><r>Größe</r>'.encode("latin-1")
    assert clean_xml_bytes(data).decode("utf-8").endswith("<r>Größe</r>")


def test_valid_declarations_are_left_alone() -> None:
    data = '<?xml version="1.0" encoding="ISO-8859-1"?><r>Größe</r>'.encode("latin-1")
    assert clean_xml_bytes(data) == data
    assert parse_xml(data).text == "Größe"


def test_not_xml_is_corrupt_and_an_input_error() -> None:
    with pytest.raises(CorruptDocumentError):
        read_einvoice(b"%PDF-1.7 not xml")
    assert issubclass(CorruptDocumentError, InputError)


@pytest.mark.parametrize(
    ("xml", "what"),
    [
        (b'<Order xmlns="urn:oasis:names:specification:ubl:schema:xsd:Order-2"/>', "UBL Order"),
        (b"<html><body/></html>", "root element 'html'"),
    ],
)
def test_other_documents_are_not_invoices(xml: bytes, what: str) -> None:
    with pytest.raises(NotAnInvoiceError, match=what):
        read_einvoice(xml)


def test_importing_the_package_loads_no_heavy_dependency() -> None:
    code = (
        "import sys, invoiceai, invoiceai.einvoice; "
        "heavy = [m for m in ('lxml', 'pypdfium2', 'pypdf', 'facturx', 'anthropic', 'pydantic') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
