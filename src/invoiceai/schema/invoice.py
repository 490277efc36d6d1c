"""The typed invoice: :class:`Invoice` and its parts.

Field names are public vocabulary that downstream databases store: never rename one. Every
scalar is optional and every list defaults to empty, so a partial extraction is representable.
Descriptions are written for Claude: they say what to put in the field, as it is printed.
The EN 16931 business term behind each field is in :data:`invoiceai.schema.en16931.FIELD_TERMS`.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, model_validator
from pydantic.functional_validators import ModelWrapValidatorHandler

from invoiceai.schema.fields import (
    BIC,
    IBAN,
    NOT_ASKED,
    NULL_PARTS,
    CountryCode,
    CurrencyCode,
    DocumentType,
    IsoDate,
    Money,
    Percent,
    Quantity,
    Text,
    VatId,
)
from invoiceai.schema.findings import Finding

__all__ = [
    "TOTAL_FIELDS",
    "Address",
    "AllowanceCharge",
    "Delivery",
    "Invoice",
    "LineItem",
    "Party",
    "PaymentDetails",
    "Period",
    "PrecedingInvoice",
    "TaxLine",
]

TOTAL_FIELDS = (
    "subtotal",
    "allowance_total",
    "charge_total",
    "total_without_tax",
    "tax_total",
    "total",
    "amount_paid",
    "rounding_amount",
    "amount_due",
)
"""The document-level money fields of :class:`Invoice`, in the order they add up."""


class _Part(BaseModel):
    # Unknown keys are ignored rather than rejected: a model reply with one extra key should
    # not cost a re-ask. `validate_assignment` keeps normalisation on attribute writes too.
    model_config = ConfigDict(extra="ignore", validate_assignment=True, populate_by_name=True)


class Address(_Part):
    """A postal address."""

    street: Text = Field(None, description="Street and house number, with any second address line.")
    city: Text = Field(None, description="City or town.")
    postal_code: Text = Field(None, description="Postal or ZIP code as printed.")
    region: Text = Field(None, description="State, province or region, if printed.")
    country_code: CountryCode = Field(None, description="Country as ISO 3166-1 alpha-2, e.g. 'DE'.")


class Party(_Part):
    """A party to the invoice: the seller, the buyer, the payee or the seller's tax representative."""

    name: Text = Field(None, description="Legal or trading name of the company or person.")
    trading_name: Text = Field(None, description="Trading name, if different from the legal name.")
    identifier: Text = Field(None, description="Other party id, e.g. a GLN or supplier number.")
    identifier_scheme: Text = Field(
        None, description="Its ISO 6523 scheme code if stated, e.g. '0088'.", json_schema_extra=NOT_ASKED
    )
    legal_registration_id: Text = Field(None, description="Company register number, e.g. 'HRB 12345'.")
    legal_registration_scheme: Text = Field(
        None, description="Its ISO 6523 scheme code if stated.", json_schema_extra=NOT_ASKED
    )
    legal_form: Text = Field(None, description="Other legal information, e.g. legal form, share capital.")
    vat_id: VatId = Field(None, description="VAT identification number with country prefix, e.g. 'DE123456789'.")
    tax_id: Text = Field(None, description="Other tax or registration number (not the VAT id), as printed.")
    electronic_address: Text = Field(None, description="Electronic invoicing address, e.g. a Peppol id.")
    electronic_address_scheme: Text = Field(
        None, description="Its scheme if stated, e.g. 'EM' (email), '0088'.", json_schema_extra=NOT_ASKED
    )
    contact_name: Text = Field(None, description="Contact person or department.")
    email: Text = Field(None, description="Email address.")
    phone: Text = Field(None, description="Telephone number as printed.")
    address: Address = Field(default_factory=Address, description="Postal address.")


class Period(_Part):
    """A period of time: the invoicing period (EN 16931 BG-14) or a line's period (BG-26)."""

    start: IsoDate = Field(None, description="First day of the period.")
    end: IsoDate = Field(None, description="Last day of the period.")


class PrecedingInvoice(_Part):
    """An earlier invoice this one refers to (EN 16931 BG-3), e.g. the invoice a credit note corrects."""

    number: Text = Field(None, description="Its number.")
    issue_date: IsoDate = Field(None, description="Its date.")


class Delivery(_Part):
    """Where and when the goods or services were delivered (EN 16931 BG-13)."""

    party_name: Text = Field(None, description="Name of the party delivered to.")
    location_id: Text = Field(None, description="Delivery location id, e.g. a GLN.")
    location_scheme: Text = Field(None, description="Its scheme if stated.", json_schema_extra=NOT_ASKED)
    date: IsoDate = Field(None, description="Delivery or service date.")
    address: Address = Field(default_factory=Address, description="Delivery address.")


class AllowanceCharge(_Part):
    """A document-level allowance (EN 16931 BG-20) or charge (BG-21)."""

    amount: Money = Field(None, description="Amount, with the sign of the document's totals.")
    base_amount: Money = Field(None, description="Amount the percentage applies to.")
    percentage: Percent = Field(None, description="Percentage, e.g. '2'.")
    reason: Text = Field(None, description="Reason as printed, e.g. 'Freight'.")
    reason_code: Text = Field(None, description="UNTDID 5189/7161 reason code if stated.", json_schema_extra=NOT_ASKED)
    tax_category: Text = Field(None, description="VAT category code.")
    tax_rate: Percent = Field(None, description="VAT rate in percent.")


class LineItem(_Part):
    """One invoice line (EN 16931 BG-25)."""

    line_id: Text = Field(None, description="Line number or position as printed.", json_schema_extra=NOT_ASKED)
    description: Text = Field(None, description="Item or service name and description, as printed.")
    item_description: Text = Field(
        None, description="Longer item description under the name.", json_schema_extra=NOT_ASKED
    )
    note: Text = Field(None, description="Remark on this line.")
    seller_item_id: Text = Field(None, description="Seller's article number.")
    buyer_item_id: Text = Field(None, description="Buyer's article number.")
    standard_item_id: Text = Field(None, description="Standard item id, e.g. a GTIN.")
    standard_item_id_scheme: Text = Field(
        None, description="Its ISO 6523 scheme, e.g. '0160' (GTIN).", json_schema_extra=NOT_ASKED
    )
    origin_country: CountryCode = Field(
        None, description="Country of origin, ISO 3166-1 alpha-2.", json_schema_extra=NOT_ASKED
    )
    order_line_reference: Text = Field(None, description="Buyer's order line number.", json_schema_extra=NOT_ASKED)
    accounting_reference: Text = Field(None, description="Buyer's accounting reference.", json_schema_extra=NOT_ASKED)
    period: Period = Field(default_factory=Period, description="Service period of this line.")
    quantity: Quantity = Field(None, description="Invoiced quantity; negative only if printed so.")
    unit: Text = Field(None, description="Unit of measure as printed, e.g. 'pcs', 'h', 'kg'.")
    unit_price: Money = Field(None, description="Net price of one unit, after any price discount, before tax.")
    gross_price: Money = Field(None, description="Unit price before a price discount.", json_schema_extra=NOT_ASKED)
    price_base_quantity: Quantity = Field(
        None, description="Units the price is for, if not 1.", json_schema_extra=NOT_ASKED
    )
    allowance_amount: Money = Field(None, description="Discount on this line, with the sign of the line amount.")
    allowance_reason: Text = Field(None, description="Reason for the line discount.", json_schema_extra=NOT_ASKED)
    charge_amount: Money = Field(None, description="Surcharge on this line, if printed.")
    charge_reason: Text = Field(None, description="Reason for the line surcharge.", json_schema_extra=NOT_ASKED)
    amount: Money = Field(None, description="The net line total before tax, as printed.")
    tax_rate: Percent = Field(None, description="VAT/tax rate of this line in percent, e.g. '19'.")
    tax_category: Text = Field(
        None, description="VAT category code of this line if shown (S, Z, E, AE, K, G, O, L, M, B)."
    )


class TaxLine(_Part):
    """One row of the VAT breakdown (EN 16931 BG-23)."""

    rate: Percent = Field(None, description="Tax rate in percent, e.g. '19'.")
    taxable_amount: Money = Field(None, description="Net amount this rate applies to.")
    tax_amount: Money = Field(None, description="Tax amount at this rate.")
    category: Text = Field(
        None,
        description="VAT category code if shown or clear: S standard, Z zero, E exempt, AE reverse charge, "
        "K intra-EU, G export, O outside scope, L Canary Islands, M Ceuta/Melilla, B split payment (Italy).",
    )
    exemption_reason: Text = Field(None, description="Why no VAT is charged, as printed (for E, AE, K, G, O).")
    exemption_reason_code: Text = Field(None, description="VATEX code if stated.", json_schema_extra=NOT_ASKED)


class PaymentDetails(_Part):
    """How to pay."""

    means_code: Text = Field(
        None,
        description="UNTDID 4461 payment means code if clear: '58' SEPA transfer, '30' transfer, '59' SEPA direct "
        "debit, '48' card, '10' cash; else null.",
    )
    means_text: Text = Field(None, description="Payment method as printed.")
    iban: IBAN = Field(None, description="IBAN of the account to pay into.")
    bic: BIC = Field(None, description="BIC / SWIFT code of that account's bank.")
    account_number: Text = Field(None, description="Account number when no IBAN is given, with any sort code.")
    account_name: Text = Field(None, description="Account holder name.")
    reference: Text = Field(None, description="Payment reference the payer must quote.")
    terms: Text = Field(None, description="Payment terms as printed, e.g. '30 days net, 2% discount in 10 days'.")
    card_number: Text = Field(None, description="Last digits of the paying card.")
    mandate_reference: Text = Field(None, description="Direct debit mandate reference.")
    creditor_id: Text = Field(None, description="SEPA creditor id.")
    debited_account: Text = Field(None, description="Account to be debited.")


class Invoice(_Part):
    """An invoice, credit note or receipt, with every field optional.

    Money is :class:`~decimal.Decimal`, dates are :class:`~datetime.date`, codes are ISO 4217 and
    ISO 3166-1 alpha-2. Values that arrive as strings are normalised ("1.234,56" -> 1234.56);
    a value that cannot be is set to ``None`` and reported in :attr:`normalization_findings`.

    Validation context (``Invoice.model_validate(data, context={...})``) may carry
    ``currency`` (what an ambiguous ``$`` means) and ``date_order`` (``"DMY"`` or ``"MDY"``).
    """

    model_config = ConfigDict(
        json_schema_extra={
            "description": (
                "An invoice, credit note or receipt. Use null for anything not on the document; never guess. "
                "Write amounts, quantities and rates as decimal strings with '.' as decimal separator and no "
                "thousands separators or currency symbols, e.g. '1234.56', '-20.00', '19'. "
                "Keep the sign printed on the document."
            ),
            **NULL_PARTS,
        }
    )

    document_type: DocumentType = Field(
        None,
        description="invoice, credit_note (a credit note / refund / corrective), receipt, proforma, or other.",
    )
    invoice_number: Text = Field(None, description="The invoice number as printed.")
    issue_date: IsoDate = Field(None, description="Invoice date.")
    due_date: IsoDate = Field(None, description="Payment due date, if printed or stated in the terms.")
    tax_point_date: IsoDate = Field(None, description="VAT point / date of supply, if separate.")
    currency: CurrencyCode = Field(None, description="Currency of the amounts as ISO 4217, e.g. 'EUR'.")
    tax_currency: CurrencyCode = Field(None, description="Second currency of the VAT total.")
    purchase_order: Text = Field(None, description="Buyer's purchase order number, if printed.")
    buyer_reference: Text = Field(None, description="Reference the buyer asked to quote, if printed.")
    project_reference: Text = Field(None, description="Project reference.")
    contract_reference: Text = Field(None, description="Contract number.")
    sales_order_reference: Text = Field(None, description="Seller's order number.")
    despatch_advice_reference: Text = Field(None, description="Delivery note number.")
    receiving_advice_reference: Text = Field(None, description="Goods receipt number.")
    tender_reference: Text = Field(None, description="Tender or lot reference.")
    invoiced_object_id: Text = Field(None, description="Id of the invoiced object, e.g. a meter.")
    buyer_accounting_reference: Text = Field(None, description="Buyer's cost centre or account.")
    preceding_invoices: list[PrecedingInvoice] = Field(
        default_factory=list, description="Earlier invoices referred to."
    )
    seller: Party = Field(default_factory=Party, description="Who issued the invoice and is paid.")
    buyer: Party = Field(default_factory=Party, description="Who is invoiced and pays.")
    payee: Party = Field(default_factory=Party, description="Who is paid, if not the seller.")
    tax_representative: Party = Field(default_factory=Party, description="Seller's tax representative.")
    delivery: Delivery = Field(default_factory=Delivery, description="Delivery details.")
    invoicing_period: Period = Field(default_factory=Period, description="Period invoiced.")
    line_items: list[LineItem] = Field(default_factory=list, description="Every invoice line, in printed order.")
    allowances: list[AllowanceCharge] = Field(default_factory=list, description="Document-level discounts, each.")
    charges: list[AllowanceCharge] = Field(default_factory=list, description="Document-level charges, each.")
    tax_breakdown: list[TaxLine] = Field(default_factory=list, description="One row per tax rate, as printed.")
    subtotal: Money = Field(None, description="Sum of the net line amounts, before document discounts and tax.")
    allowance_total: Money = Field(None, description="Document-level discounts, with the sign of the totals.")
    charge_total: Money = Field(None, description="Document-level charges such as shipping, if separate.")
    total_without_tax: Money = Field(None, description="Total without tax.")
    tax_total: Money = Field(None, description="Total tax amount.")
    tax_total_in_tax_currency: Money = Field(None, description="Tax total in the second currency.")
    total: Money = Field(None, description="Grand total including tax.")
    amount_paid: Money = Field(None, description="Amount already paid (prepayment, deposit), if printed.")
    rounding_amount: Money = Field(None, description="Rounding added to reach the amount due, if printed.")
    amount_due: Money = Field(None, description="Amount still to pay.")
    payment: PaymentDetails = Field(default_factory=PaymentDetails, description="Payment instructions.")
    notes: Text = Field(None, description="Other remarks printed on the invoice, briefly.")

    _normalization_findings: list[Finding] = PrivateAttr(default_factory=list)

    def __eq__(self, other: object) -> bool:
        # Two invoices with the same data are equal, however messy the input they were built from.
        if not isinstance(other, Invoice):
            return NotImplemented
        return type(self) is type(other) and self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]  # mutable, like every pydantic model

    @property
    def normalization_findings(self) -> list[Finding]:
        """What could not be normalised when this invoice was built from raw values."""
        return list(self._normalization_findings)

    def with_normalization_findings(self, findings: list[Finding]) -> Invoice:
        """Returns a shallow copy of this invoice whose :attr:`normalization_findings` are ``findings``.

        For code that builds an invoice from already validated parts (merging the answers of a
        long document's chunks) and must carry over what normalising those parts found. The
        original is left unchanged.
        """
        copy = self.model_copy()
        copy._normalization_findings = list(findings)
        return copy

    @model_validator(mode="wrap")
    @classmethod
    def _normalize(cls, data: Any, handler: ModelWrapValidatorHandler[Invoice], info: ValidationInfo) -> Invoice:
        # Imported here: tree walks this module's classes.
        from invoiceai.schema.tree import hints_from_context, normalize_tree

        findings: list[Finding] = []
        if isinstance(data, dict):
            data = normalize_tree(cls, data, hints_from_context(info.context, data), findings)
        invoice = handler(data)
        if findings:
            invoice._normalization_findings = findings
        return invoice

    def to_xml(self, syntax: Literal["cii", "ubl"] = "cii") -> bytes:
        """Writes this invoice as EN 16931 XML. Deprecated: use :func:`invoiceai.einvoice.to_xml`.

        Calling it warns (``DeprecationWarning``): ``schema`` imports nothing above it, and
        writing XML is the e-invoice layer's job, ``invoiceai.einvoice.to_xml(invoice, syntax)``.

        Args:
            syntax: ``"cii"`` or ``"ubl"``.

        Returns:
            UTF-8 XML bytes.

        Raises:
            MissingFieldsError: Fields EN 16931 requires are missing; ``fields`` lists them.
        """
        warnings.warn(
            "Invoice.to_xml() is deprecated; use invoiceai.einvoice.to_xml(invoice, syntax) instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        # The one allowed upward import of schema (with to_facturx below), kept until the shim goes.
        from invoiceai.einvoice import to_xml

        return to_xml(self, syntax)

    def to_facturx(self, pdf: bytes, *, lang: str | None = None) -> bytes:
        """Embeds this invoice into ``pdf`` as Factur-X. Deprecated: use ``invoiceai.render.pdf.to_facturx``.

        Calling it warns (``DeprecationWarning``): Factur-X embedding is PDF work and lives with
        the PDF code, ``invoiceai.render.pdf.to_facturx(invoice, pdf, lang=...)``.

        Args:
            pdf: The visible invoice as a PDF (the original, a scan, a rendered page).
            lang: The PDF's language as an RFC 3066 tag, e.g. ``"de-DE"``.

        Returns:
            The Factur-X PDF.

        Raises:
            MissingFieldsError: Fields EN 16931 requires are missing.
            MissingDependencyError: The ``facturx`` extra is not installed.
        """
        warnings.warn(
            "Invoice.to_facturx() is deprecated; use invoiceai.render.pdf.to_facturx(invoice, pdf, lang=...) instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        from invoiceai.render.pdf import to_facturx

        return to_facturx(self, pdf, lang=lang)

    def _repr_html_(self) -> str:
        """Shows the invoice as HTML in Jupyter, with its validation findings highlighted."""
        # schema's own minimal renderer: Jupyter calls this on the model, and schema never imports
        # invoiceai.display (which builds the richer views on the same renderer).
        from invoiceai.schema.html import invoice_html
        from invoiceai.schema.validation import validate

        return invoice_html(self, validate(self))
