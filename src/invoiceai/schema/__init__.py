"""Typed invoice data and the rules it must satisfy. No I/O, no heavy imports."""

from invoiceai.schema.findings import Finding, Severity
from invoiceai.schema.invoice import Address, Invoice, LineItem, Party, PaymentDetails, TaxLine
from invoiceai.schema.structured import check_structured_output_fit, output_json_schema
from invoiceai.schema.validation import minor_unit, validate

__all__ = [
    "Address",
    "Finding",
    "Invoice",
    "LineItem",
    "Party",
    "PaymentDetails",
    "Severity",
    "TaxLine",
    "check_structured_output_fit",
    "minor_unit",
    "output_json_schema",
    "validate",
]
