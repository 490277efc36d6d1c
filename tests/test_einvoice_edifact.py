"""UN/EDIFACT INVOIC messages written as XML are invoices in a syntax invoiceai does not read."""

from __future__ import annotations

import pytest

from invoiceai.einvoice import read_einvoice
from invoiceai.errors import NotAnInvoiceError, UnsupportedFormatError

# The usual shapes of EDIFACT as XML, generated here (no real message is needed to tell them).
INTERCHANGE = b"""<?xml version="1.0" encoding="UTF-8"?>
<Interchange>
  <UNB><S001><E0001>UNOC</E0001></S001></UNB>
  <M_INVOIC>
    <UNH><D_0062>1</D_0062><S009><D_0065>INVOIC</D_0065><D_0052>D</D_0052><D_0054>96A</D_0054></S009></UNH>
    <BGM><C002><D_1001>380</D_1001></C002><D_1004>R-1</D_1004></BGM>
  </M_INVOIC>
</Interchange>"""
BIZTALK = b"""<?xml version="1.0"?>
<ns0:EFACT_D96A_INVOIC xmlns:ns0="http://schemas.microsoft.com/BizTalk/EDI/EDIFACT/2006">
  <UNH><UNH1>1</UNH1><UNH2><UNH2.1>INVOIC</UNH2.1></UNH2></UNH>
  <ns0:BGM><ns0:C002><C00201>380</C00201></ns0:C002></ns0:BGM>
</ns0:EFACT_D96A_INVOIC>"""
MESSAGE_ONLY = b"""<INVOIC xmlns="urn:example:edifact:d01b"><UNH><S009><D_0065>INVOIC</D_0065></S009></UNH></INVOIC>"""
ORDERS = b"""<Interchange><UNB/><M_ORDERS><UNH><S009><D_0065>ORDERS</D_0065></S009></UNH></M_ORDERS></Interchange>"""


@pytest.mark.parametrize("xml", [INTERCHANGE, BIZTALK, MESSAGE_ONLY], ids=["interchange", "biztalk", "message"])
def test_edifact_invoices_are_unsupported_invoices_not_non_invoices(xml: bytes) -> None:
    with pytest.raises(UnsupportedFormatError, match="EDIFACT INVOIC invoice") as caught:
        read_einvoice(xml)
    assert not isinstance(caught.value, NotAnInvoiceError)
    assert "does not read" in str(caught.value)


def test_an_edifact_order_is_still_not_an_invoice() -> None:
    with pytest.raises(NotAnInvoiceError):
        read_einvoice(ORDERS)
