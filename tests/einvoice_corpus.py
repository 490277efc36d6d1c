"""Corpus helpers for the e-invoice tests: which files are invoices, and what their XML says.

The facts are read with plain local-name() XPath, independently of the reader's namespace tables
and code paths, so a reader bug cannot hide itself in the expected values.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

from lxml import etree

from conftest import CORPUS

XML_DIR = "einvoice/xml"
PDF_DIR = "einvoice/pdf"
NOT_INVOICES = {"ORDER-X_EX01_ORDER_FULL_DATA-COMFORT.pdf"}
NO_XML = {"MustangGnuaccountingBeispielRE-20170509_505blanko.pdf", "RE-E-974-Hetzner_2016-01-19_R0005532486.pdf"}


@dataclasses.dataclass(frozen=True)
class Facts:
    invoice_number: str
    issue_date: dt.date
    currency: str
    seller_name: str
    total: Decimal
    amount_due: Decimal | None
    line_count: int
    line_categories: tuple[str | None, ...]
    """BT-151 of each line, in order; ``None`` where a line has none."""


def ground_truth(pdf: Path) -> Path | None:
    """The embedded_xml/ file MANIFEST names as the PDF's ground truth."""
    manifest = CORPUS / "manifest.json"
    relative = str(pdf.relative_to(CORPUS))
    for entry in json.loads(manifest.read_text(encoding="utf-8"))["files"]:
        if entry["path"] == relative:
            truth = entry.get("ground_truth_path")
            return CORPUS / truth if truth else None
    return None


def _one(root: etree._Element, path: str) -> str | None:
    found = root.xpath(path)
    assert isinstance(found, list)
    texts = ["".join(str(t) for t in node.itertext()).strip() for node in found]  # type: ignore[union-attr]
    return texts[0] if texts else None


def _categories(lines: object, path: str) -> tuple[str | None, ...]:
    assert isinstance(lines, list)
    return tuple(_one(line, path) for line in lines)


def xml_facts(data: bytes) -> Facts:
    # The one corpus file with a bogus encoding name is repaired by hand here, not by our code.
    data = data.replace(b'encoding="UTF-8-W/O-BOM"', b'encoding="UTF-8"')
    root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    local = etree.QName(root).localname
    if local in ("Invoice", "CreditNote"):
        party = "/*/*[local-name()='AccountingSupplierParty']/*[local-name()='Party']"
        seller = _one(root, f"{party}/*[local-name()='PartyLegalEntity']/*[local-name()='RegistrationName']")
        seller = seller or _one(root, f"{party}/*[local-name()='PartyName']/*[local-name()='Name']")
        totals = "/*/*[local-name()='LegalMonetaryTotal']"
        due = _one(root, f"{totals}/*[local-name()='PayableAmount']")
        line_nodes = root.xpath("/*/*[local-name()='InvoiceLine' or local-name()='CreditNoteLine']")
        category = "*[local-name()='Item']/*[local-name()='ClassifiedTaxCategory']/*[local-name()='ID']"
        return Facts(
            invoice_number=str(_one(root, "/*/*[local-name()='ID']")),
            issue_date=dt.date.fromisoformat(str(_one(root, "/*/*[local-name()='IssueDate']"))),
            currency=str(_one(root, "/*/*[local-name()='DocumentCurrencyCode']")),
            seller_name=" ".join(str(seller).split()),
            total=Decimal(str(_one(root, f"{totals}/*[local-name()='TaxInclusiveAmount']"))),
            amount_due=Decimal(due) if due else None,
            line_count=len(line_nodes),  # type: ignore[arg-type]
            line_categories=_categories(line_nodes, category),
        )
    header = "/*/*[local-name()='ExchangedDocument' or local-name()='HeaderExchangedDocument']"
    date = str(_one(root, f"{header}/*[local-name()='IssueDateTime']/*[local-name()='DateTimeString']"))
    due = _one(root, "//*[local-name()='DuePayableAmount']")
    # Lines with a product; ZUGFeRD 1.0 also has note-only pseudo-lines without one.
    line_nodes = root.xpath(
        "//*[local-name()='IncludedSupplyChainTradeLineItem'][*[local-name()='SpecifiedTradeProduct']]"
    )
    # D16B SpecifiedLineTradeSettlement, ZUGFeRD 1.0 SpecifiedSupplyChainTradeSettlement.
    category = (
        "*[local-name()='SpecifiedLineTradeSettlement' or local-name()='SpecifiedSupplyChainTradeSettlement']"
        "/*[local-name()='ApplicableTradeTax']/*[local-name()='CategoryCode']"
    )
    return Facts(
        invoice_number=str(_one(root, f"{header}/*[local-name()='ID']")),
        issue_date=dt.datetime.strptime(date, "%Y%m%d").date(),
        currency=str(_one(root, "//*[local-name()='InvoiceCurrencyCode']")),
        seller_name=" ".join(str(_one(root, "//*[local-name()='SellerTradeParty']/*[local-name()='Name']")).split()),
        total=Decimal(str(_one(root, "//*[local-name()='GrandTotalAmount']"))),
        amount_due=Decimal(due) if due else None,
        line_count=len(line_nodes),  # type: ignore[arg-type]
        line_categories=_categories(line_nodes, category),
    )
