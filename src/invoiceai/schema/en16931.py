"""Which EN 16931 business term each :class:`~invoiceai.Invoice` field carries.

The single source for the documentation's mapping table and for the e-invoice reader and
writer. Paths use ``[]`` for "every element of the list".
"""

from __future__ import annotations

__all__ = ["FIELD_TERMS"]

FIELD_TERMS: dict[str, tuple[str, str]] = {
    "document_type": ("BT-3", "Invoice type code (380 invoice, 381 credit note, ...)"),
    "invoice_number": ("BT-1", "Invoice number"),
    "issue_date": ("BT-2", "Invoice issue date"),
    "due_date": ("BT-9", "Payment due date"),
    "currency": ("BT-5", "Invoice currency code"),
    "purchase_order": ("BT-13", "Purchase order reference"),
    "buyer_reference": ("BT-10", "Buyer reference"),
    "seller.name": ("BT-27", "Seller name"),
    "seller.vat_id": ("BT-31", "Seller VAT identifier"),
    "seller.tax_id": ("BT-32", "Seller tax registration identifier"),
    "seller.email": ("BT-43", "Seller contact email address"),
    "seller.phone": ("BT-42", "Seller contact telephone number"),
    "seller.address": ("BG-5", "Seller postal address"),
    "buyer.name": ("BT-44", "Buyer name"),
    "buyer.vat_id": ("BT-48", "Buyer VAT identifier"),
    "buyer.tax_id": ("BT-47", "Buyer legal registration identifier"),
    "buyer.email": ("BT-58", "Buyer contact email address"),
    "buyer.phone": ("BT-57", "Buyer contact telephone number"),
    "buyer.address": ("BG-8", "Buyer postal address"),
    "*.address.street": ("BT-35 / BT-50", "Address line 1 (seller / buyer)"),
    "*.address.city": ("BT-37 / BT-52", "City"),
    "*.address.postal_code": ("BT-38 / BT-53", "Post code"),
    "*.address.region": ("BT-39 / BT-54", "Country subdivision"),
    "*.address.country_code": ("BT-40 / BT-55", "Country code"),
    "line_items": ("BG-25", "Invoice line"),
    "line_items[].description": ("BT-153", "Item name"),
    "line_items[].quantity": ("BT-129", "Invoiced quantity"),
    "line_items[].unit": ("BT-130", "Invoiced quantity unit of measure code"),
    "line_items[].unit_price": ("BT-146", "Item net price (per one unit: BT-146 / BT-149)"),
    "line_items[].allowance_amount": ("BT-136", "Invoice line allowance amount"),
    "line_items[].charge_amount": ("BT-141", "Invoice line charge amount"),
    "line_items[].amount": ("BT-131", "Invoice line net amount"),
    "line_items[].tax_rate": ("BT-152", "Invoiced item VAT rate"),
    "line_items[].tax_category": ("BT-151", "Invoiced item VAT category code"),
    "tax_breakdown": ("BG-23", "VAT breakdown"),
    "tax_breakdown[].taxable_amount": ("BT-116", "VAT category taxable amount"),
    "tax_breakdown[].tax_amount": ("BT-117", "VAT category tax amount"),
    "tax_breakdown[].category": ("BT-118", "VAT category code"),
    "tax_breakdown[].rate": ("BT-119", "VAT category rate"),
    "tax_breakdown[].exemption_reason": ("BT-120", "VAT exemption reason text"),
    "subtotal": ("BT-106", "Sum of invoice line net amount"),
    "allowance_total": ("BT-107", "Sum of allowances on document level"),
    "charge_total": ("BT-108", "Sum of charges on document level"),
    "tax_total": ("BT-110", "Invoice total VAT amount"),
    "total": ("BT-112", "Invoice total amount with VAT"),
    "amount_paid": ("BT-113", "Paid amount"),
    "rounding_amount": ("BT-114", "Rounding amount"),
    "amount_due": ("BT-115", "Amount due for payment"),
    "payment.iban": ("BT-84", "Payment account identifier"),
    "payment.bic": ("BT-86", "Payment service provider identifier"),
    "payment.account_number": ("BT-84", "Payment account identifier (non-IBAN)"),
    "payment.reference": ("BT-83", "Remittance information"),
    "payment.terms": ("BT-20", "Payment terms"),
    "notes": ("BT-22", "Invoice note"),
}
"""Field path -> (business term id, business term name)."""
