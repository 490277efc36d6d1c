"""The two deprecated shims on Invoice: they warn, name their replacement, and still work.

These are the only tests that may emit a DeprecationWarning, and each asserts it.
"""

from __future__ import annotations

import io

import pytest

from documents_factory import example_invoice
from invoiceai.einvoice import read_einvoice, to_xml


@pytest.mark.parametrize("syntax", ["cii", "ubl"])
def test_invoice_to_xml_warns_and_matches_einvoice_to_xml(syntax: str) -> None:
    invoice = example_invoice()
    with pytest.warns(DeprecationWarning, match=r"invoiceai\.einvoice\.to_xml\(invoice, syntax\)") as caught:
        written = invoice.to_xml(syntax)  # type: ignore[arg-type]
    assert written == to_xml(invoice, syntax)  # type: ignore[arg-type]
    assert read_einvoice(written).invoice_number == invoice.invoice_number
    assert caught[0].filename == __file__  # the warning points at the caller


def test_invoice_to_facturx_warns_and_matches_render_pdf_to_facturx() -> None:
    pytest.importorskip("facturx", reason="Factur-X needs the facturx extra")
    from PIL import Image

    from invoiceai.render.pdf import find_embedded_invoice, to_facturx

    out = io.BytesIO()
    Image.new("L", (200, 280), 255).save(out, format="PDF", resolution=24)
    invoice = example_invoice()
    with pytest.warns(DeprecationWarning, match=r"invoiceai\.render\.pdf\.to_facturx\(invoice, pdf, lang=\.\.\.\)"):
        written = invoice.to_facturx(out.getvalue(), lang="de-DE")
    assert written.startswith(b"%PDF")
    # The same writer: the same embedded XML (the PDFs differ in their timestamps when the clock ticks).
    again = to_facturx(invoice, out.getvalue(), lang="de-DE")
    found, expected = find_embedded_invoice(written), find_embedded_invoice(again)
    assert found is not None and expected is not None
    assert found.data == expected.data
