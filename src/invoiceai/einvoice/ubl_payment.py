"""UBL payment instructions (BG-16 to BG-19) and payment terms (BT-20): reading and writing.

``cac:PaymentMeans``: ``cbc:PaymentMeansCode`` BT-81 (its ``@name`` BT-82), ``cbc:PaymentID``
BT-83, ``cac:PayeeFinancialAccount`` (``cbc:ID`` BT-84, ``cbc:Name`` BT-85,
``cac:FinancialInstitutionBranch/cbc:ID`` BT-86), ``cac:CardAccount/cbc:PrimaryAccountNumberID``
BT-87, ``cac:PaymentMandate`` (``cbc:ID`` BT-89, ``cac:PayerFinancialAccount/cbc:ID`` BT-91).
BT-90, the SEPA creditor id, is a party identifier with scheme ``SEPA`` on the payee or else the
seller. ``cac:PaymentTerms/cbc:Note`` is BT-20.

A document may carry several payment means; one is read: the first with a payee account, else
the first. The card holder name (BT-88) is not kept. Code 1 ("instrument not defined") on a
means that holds only a reference or a due date is read as no code: it is what the writer puts
there when an invoice has a payment reference but no means code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from invoiceai.einvoice._build import add, add_present
from invoiceai.einvoice._nodes import first, first_text, one_line, texts
from invoiceai.einvoice.cii_reader import join_notes
from invoiceai.einvoice.ubl_common import CAC, CBC, iso, line_text, present, with_attribute
from invoiceai.einvoice.ubl_parties import SEPA

if TYPE_CHECKING:
    from lxml import etree

    from invoiceai.einvoice.requirements import Plan

__all__ = ["looks_like_iban", "read_payment", "write_payment"]

# UNTDID 4461 "instrument not defined", and the fields that would define one.
_NOT_DEFINED = "1"
_INSTRUMENT = ("means_text", "iban", "account_number", "card_number", "mandate_reference", "debited_account")
# UBL requires a card network (cbc:NetworkID); the model keeps none, so it is written as unknown.
_UNKNOWN_NETWORK = "NA"


def looks_like_iban(value: str) -> bool:
    """Whether an account identifier has the shape of an IBAN (country, check digits, 11-30 more)."""
    compact = "".join(value.split()).upper()
    return 15 <= len(compact) <= 34 and compact[:2].isalpha() and compact[2:4].isdigit() and compact.isalnum()


def read_payment(root: etree._Element, ns: dict[str, str]) -> dict[str, Any]:
    """Reads the payment instructions into the keyword data of :class:`~invoiceai.schema.PaymentDetails`."""
    means = first(root, "cac:PaymentMeans[cac:PayeeFinancialAccount/cbc:ID]", ns)
    if means is None:
        means = first(root, "cac:PaymentMeans", ns)
    data: dict[str, Any] = {}
    if means is not None:
        code, name = with_attribute(means, "cbc:PaymentMeansCode", ns, "name")
        account = first_text(means, "cac:PayeeFinancialAccount/cbc:ID", ns)
        iban = account if account and looks_like_iban(account) else None
        data = {
            "means_code": code,
            "means_text": name,
            "iban": iban,
            "account_number": None if iban else one_line(account),
            "account_name": line_text(means, "cac:PayeeFinancialAccount/cbc:Name", ns),
            "bic": first_text(means, "cac:PayeeFinancialAccount/cac:FinancialInstitutionBranch/cbc:ID", ns),
            "reference": first_text(means, "cbc:PaymentID", ns),
            "card_number": line_text(means, "cac:CardAccount/cbc:PrimaryAccountNumberID", ns),
            "mandate_reference": line_text(means, "cac:PaymentMandate/cbc:ID", ns),
            "debited_account": line_text(means, "cac:PaymentMandate/cac:PayerFinancialAccount/cbc:ID", ns),
        }
    if data.get("means_code") == _NOT_DEFINED and not any(data.get(name) for name in _INSTRUMENT):
        # What the writer emits for a reference (or a credit note's due date) without a means code:
        # UBL keeps BT-83 in a cac:PaymentMeans, which needs a code.
        data["means_code"] = None
    if not data.get("reference"):
        data["reference"] = first_text(root, "cac:PaymentMeans/cbc:PaymentID", ns)
    data["reference"] = one_line(data["reference"])
    creditor = f"cac:PayeeParty/cac:PartyIdentification/cbc:ID[{SEPA}]"
    data["creditor_id"] = line_text(root, creditor, ns) or line_text(
        root, f"cac:AccountingSupplierParty/cac:Party/cac:PartyIdentification/cbc:ID[{SEPA}]", ns
    )
    data["terms"] = join_notes(texts(root, "cac:PaymentTerms/cbc:Note", ns))
    return data


def write_payment(root: etree._Element, plan: Plan, credit: bool) -> None:
    """Writes ``cac:PaymentMeans`` (when there is anything to say) and ``cac:PaymentTerms``.

    The means code is the invoice's own (BT-81); without one it is 58 (SEPA credit transfer)
    for an IBAN, 30 (credit transfer) for another account and 1 (not defined) otherwise.
    """
    invoice = plan.invoice
    payment = invoice.payment
    account = payment.iban or payment.account_number
    due_here = credit and invoice.due_date is not None
    if due_here or present(
        payment.means_code,
        payment.means_text,
        account,
        payment.reference,
        payment.card_number,
        payment.mandate_reference,
        payment.debited_account,
    ):
        means = add(root, CAC + "PaymentMeans")
        iban = account is not None and (payment.iban is not None or looks_like_iban(account))
        code = payment.means_code or ("58" if iban else "30" if account else _NOT_DEFINED)
        if payment.means_text:
            add(means, CBC + "PaymentMeansCode", code, name=payment.means_text)
        else:
            add(means, CBC + "PaymentMeansCode", code)
        if due_here:
            add(means, CBC + "PaymentDueDate", iso(invoice.due_date))
        add_present(means, CBC + "PaymentID", payment.reference)
        if payment.card_number:
            card = add(means, CAC + "CardAccount")
            add(card, CBC + "PrimaryAccountNumberID", payment.card_number)
            add(card, CBC + "NetworkID", _UNKNOWN_NETWORK)
        if account:
            financial = add(means, CAC + "PayeeFinancialAccount")
            add(financial, CBC + "ID", account)
            add_present(financial, CBC + "Name", payment.account_name)
            if payment.bic:
                add(add(financial, CAC + "FinancialInstitutionBranch"), CBC + "ID", payment.bic)
        if present(payment.mandate_reference, payment.debited_account):
            mandate = add(means, CAC + "PaymentMandate")
            add_present(mandate, CBC + "ID", payment.mandate_reference)
            if payment.debited_account:
                add(add(mandate, CAC + "PayerFinancialAccount"), CBC + "ID", payment.debited_account)
    if payment.terms:
        add(add(root, CAC + "PaymentTerms"), CBC + "Note", payment.terms)
