"""Typed invoice data and the rules it must satisfy. No I/O, no heavy imports."""

from invoiceai.schema.findings import Finding, Severity
from invoiceai.schema.invoice import (
    Address,
    AllowanceCharge,
    Delivery,
    Invoice,
    LineItem,
    Party,
    PaymentDetails,
    Period,
    PrecedingInvoice,
    TaxLine,
)
from invoiceai.schema.structured import check_structured_output_fit, output_json_schema
from invoiceai.schema.validation import minor_unit, validate

__all__ = [
    "Address",
    "AllowanceCharge",
    "Delivery",
    "Finding",
    "Invoice",
    "LineItem",
    "Party",
    "PaymentDetails",
    "Period",
    "PrecedingInvoice",
    "Severity",
    "TaxLine",
    "check_structured_output_fit",
    "minor_unit",
    "output_json_schema",
    "validate",
]
