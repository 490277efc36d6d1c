"""Writes any :class:`~invoiceai.Invoice` as EN 16931 XML: CII or UBL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from invoiceai.errors import EInvoiceError, RuleViolationError

if TYPE_CHECKING:
    from invoiceai.schema import Finding, Invoice

__all__ = ["XmlSyntax", "positive_credit_note", "rule_violations", "to_xml"]

XmlSyntax = Literal["cii", "ubl"]


def to_xml(invoice: Invoice, syntax: XmlSyntax = "cii", *, force: bool = False) -> bytes:
    """Writes ``invoice`` as EN 16931 XML.

    ``"cii"`` is UN/CEFACT CII D16B in the Factur-X / ZUGFeRD EN 16931 profile (the XML inside a
    Factur-X PDF); ``"ubl"`` is OASIS UBL 2.1 (``Invoice``, or ``CreditNote`` for a credit note).
    The output validates against the official XSDs. Text is escaped by the XML serialiser, so
    ``& < > " '`` in names or notes are safe.

    The guarantee: what this returns passes the official EN 16931 Schematron of ``syntax``, or
    it raises, naming each rule and field, unless ``force`` is true. Before writing,

    - :func:`~invoiceai.einvoice.requirements.plan` checks the mandatory fields, the optional
      groups that are given (a tax representative needs a name, a VAT id and a country, ...), two
      decimals at most per amount (BR-DEC-*) and the official code lists (BR-CL-*);
    - :func:`rule_violations` runs :func:`invoiceai.validate` and the checks where this syntax's
      official assertions are stricter (:func:`invoiceai.schema.validation.syntax_findings`):
      an error under an official rule id (``BR-...``: wrong totals, a VAT breakdown that does
      not add up, a seller with no identifier) is refused. invoiceai's own ``IAI-`` findings and
      warnings never stop writing.

    Args:
        invoice: The invoice, from an e-invoice or a visual extraction.
        syntax: ``"cii"`` or ``"ubl"``.
        force: Write even when the invoice breaks EN 16931 business rules or lacks what a rule
            asks for because of another value (the output will then fail the official
            validation). Missing mandatory fields still raise.

    A credit note whose totals are negative (as many printed credit notes and scans show them)
    is written with every sign flipped: an EN 16931 credit note (type 381, UBL ``CreditNote``)
    states a positive amount credited, and a negative one would mean the opposite.

    Returns:
        UTF-8 XML bytes with an XML declaration.

    Raises:
        MissingFieldsError: The invoice lacks fields EN 16931 requires; ``fields`` lists them all
            with their business terms.
        RuleViolationError: The invoice breaks EN 16931 business rules and ``force`` is false;
            ``findings`` lists them, and the message names each rule and its fields.
        EInvoiceError: ``syntax`` is not ``"cii"`` or ``"ubl"``.
    """
    from invoiceai.einvoice.requirements import plan

    if syntax not in ("cii", "ubl"):
        raise EInvoiceError(f"Cannot write syntax {syntax!r}; choose 'cii' or 'ubl'.")
    checked = plan(positive_credit_note(invoice), force=force)
    if not force:
        broken = [*checked.refusals, *rule_violations(invoice, syntax)]
        if broken:
            raise _refusal(broken)
    if syntax == "cii":
        from invoiceai.einvoice.cii_writer import write_cii

        return write_cii(checked)
    from invoiceai.einvoice.ubl_writer import write_ubl

    return write_ubl(checked)


def rule_violations(invoice: Invoice, syntax: XmlSyntax | None = None) -> list[Finding]:
    """The findings of :func:`invoiceai.validate` that stop :func:`to_xml`: errors under official rule ids (``BR-...``).

    Args:
        invoice: The invoice.
        syntax: The syntax to be written: adds the errors only its official assertions raise
            (:func:`invoiceai.schema.validation.syntax_findings`); ``None`` for both's common part.
    """
    from invoiceai.schema import validate
    from invoiceai.schema.validation import syntax_findings

    findings = validate(invoice)
    if syntax is not None:
        findings += syntax_findings(invoice, syntax)
    return [finding for finding in findings if finding.severity == "error" and finding.rule.startswith("BR-")]


def _refusal(findings: list[Finding]) -> RuleViolationError:
    rules = sorted({finding.rule for finding in findings})
    details = "; ".join(f"{finding.rule} ({', '.join(finding.fields)}): {finding.message}" for finding in findings)
    return RuleViolationError(
        f"The invoice breaks {len(rules)} EN 16931 rule(s) ({', '.join(rules)}), so the XML would fail the "
        f"official validation: {details} Correct these fields, or pass force=True to write it anyway.",
        findings=findings,
    )


def positive_credit_note(invoice: Invoice) -> Invoice:
    """Returns a credit note with negative totals as the same credit note with positive amounts.

    Amounts, quantities, allowances and charges change sign; unit prices become their absolute
    value (EN 16931 never has a negative net price). Anything that is not a credit note with a
    negative total, amount due or subtotal is returned as it is.
    """
    from invoiceai.schema.invoice import TOTAL_FIELDS

    if invoice.document_type != "credit_note":
        return invoice
    sign = next((value for value in (invoice.total, invoice.amount_due, invoice.subtotal) if value is not None), None)
    if sign is None or sign >= 0:
        return invoice
    flipped = invoice.model_copy(deep=True)
    for name in (*TOTAL_FIELDS, "tax_total_in_tax_currency"):
        value = getattr(flipped, name)
        if value is not None:
            setattr(flipped, name, -value)
    for entry in (*flipped.allowances, *flipped.charges):
        if entry.amount is not None:
            entry.amount = -entry.amount
        if entry.base_amount is not None:
            entry.base_amount = -entry.base_amount
    for line in flipped.line_items:
        for name in ("amount", "allowance_amount", "charge_amount"):
            value = getattr(line, name)
            if value is not None:
                setattr(line, name, -value)
        if line.gross_price is not None and line.gross_price < 0:
            line.gross_price = -line.gross_price
        if line.unit_price is not None and line.unit_price < 0:
            line.unit_price = -line.unit_price  # the sign lived in the price; the quantity keeps its own
        elif line.quantity is not None:
            line.quantity = -line.quantity
    for tax in flipped.tax_breakdown:
        if tax.taxable_amount is not None:
            tax.taxable_amount = -tax.taxable_amount
        if tax.tax_amount is not None:
            tax.tax_amount = -tax.tax_amount
    return flipped
