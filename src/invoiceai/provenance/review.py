"""Review: which results a person should look at, under a policy the user sets.

A :class:`ReviewPolicy` says which fields must be grounded on their page and which findings
force a review; :func:`review` applies it to one result's provenance and findings. It is pure
and cheap, so a stored result can be reviewed again under another policy
(:meth:`invoiceai.Extraction.reviewed`).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from collections.abc import Mapping, Sequence
from typing import Any

from invoiceai.provenance.explain import explained
from invoiceai.provenance.ground import UNGROUNDED
from invoiceai.provenance.model import Provenance
from invoiceai.schema.findings import Finding, Severity

__all__ = ["MUST_GROUND", "Review", "ReviewPolicy", "review"]

_INDEX = re.compile(r"\[\d+\]")


MUST_GROUND = (
    "invoice_number", "issue_date", "due_date", "tax_point_date", "delivery.date", "invoicing_period.*",
    "preceding_invoices.number", "currency",
    "total", "amount_due", "tax_total", "total_without_tax", "subtotal", "allowance_total", "charge_total",
    "amount_paid", "rounding_amount", "tax_total_in_tax_currency",
    "tax_breakdown.rate", "tax_breakdown.taxable_amount", "tax_breakdown.tax_amount",
    "allowances.*", "charges.*", "line_items.period.*",
    "line_items.quantity", "line_items.unit_price", "line_items.amount", "line_items.allowance_amount",
    "line_items.charge_amount", "line_items.tax_rate", "line_items.description", "line_items.seller_item_id",
    "line_items.buyer_item_id",
    "seller.name", "seller.vat_id", "seller.address.*", "buyer.name", "buyer.vat_id", "buyer.address.*",
    "payment.iban", "payment.bic", "payment.account_number", "payment.reference", "payment.mandate_reference",
    "payment.debited_account", "purchase_order", "buyer_reference",
)  # fmt: skip
"""What the default policy wants printed on the page: what a clerk posts and pays by.

The invoice's amounts, quantities, rates, dates and currency, its number, purchase order and
buyer reference, what was sold (each line's description, article numbers and period, each
allowance and charge), who is paid (the seller's name, VAT id and address, the account, the
payment reference, the direct-debit mandate and debited account) and who pays (the buyer's
name, VAT id and address). Left out are the values an invoice often does not print,
or prints in another form than the model gives back, and where a wrong reading costs no money:
notes, payment terms and means, contact details, legal forms, registration, routing and global
article ids (GTIN), tax numbers, other parties (payee, tax representative,
delivery), other documents' references and dates (a preceding invoice's date). Those still get an
``IAI-UNGROUNDED`` finding and ``low`` confidence when they are not on the page; they just do
not send the whole result to a person. ``ReviewPolicy(must_ground=("*",))`` wants everything.
"""


@dataclasses.dataclass(frozen=True)
class ReviewPolicy:
    """When a result needs a person.

    Field patterns are shell-style (``fnmatch``) and match a value's path without list indices:
    ``total``, ``seller.*``, ``line_items.amount``, ``*`` (everything).

    Attributes:
        must_ground: A value matching one of these that is not printed on its page needs
            review (default :data:`MUST_GROUND`). A value that is not printed but follows
            exactly from printed ones by the arithmetic rules (``derived``) is grounded enough.
        unknown_needs_review: Also review values that could not be checked because their page
            has no words (scans without OCR); off by default, since that is not evidence of an error.
        approximate_needs_review: Also review values an OCR page shows with one character
            different; off by default, since OCR misreads characters far more often than the model.
        severities: Findings of these severities need review.
        rules: Findings whose rule matches one of these patterns need review, whatever their severity.
        explained_need_review: Also review error findings the evidence explains as the
            document's own (an IBAN printed with a wrong check digit, line amounts that include
            VAT; see :mod:`invoiceai.provenance.explain`); off by default, the finding stays.
    """

    must_ground: tuple[str, ...] = MUST_GROUND
    unknown_needs_review: bool = False
    approximate_needs_review: bool = False
    severities: tuple[Severity, ...] = ("error",)
    rules: tuple[str, ...] = ("IAI-CROSS-CHECK",)
    explained_need_review: bool = False

    @classmethod
    def lenient(cls) -> ReviewPolicy:
        """Only the money totals, the invoice number, the dates and the payee's account must be grounded."""
        return cls(
            must_ground=("invoice_number", "issue_date", "due_date", "total", "amount_due", "tax_total",
                         "total_without_tax", "payment.iban", "seller.vat_id"),
        )  # fmt: skip

    @classmethod
    def strict(cls) -> ReviewPolicy:
        """Every checked value must be printed on its page, and explained errors need review too."""
        return cls(must_ground=("*",), explained_need_review=True)

    def wants_grounded(self, path: str) -> bool:
        """Tells whether ``path`` must be grounded."""
        plain = _INDEX.sub("", path)
        return any(fnmatch.fnmatchcase(plain, pattern) for pattern in self.must_ground)


@dataclasses.dataclass(frozen=True)
class Review:
    """Whether a result needs a person, and why.

    Attributes:
        needs_review: ``True`` when any reason below applies.
        reasons: One sentence per reason.
        fields: Paths of the values to look at.
    """

    needs_review: bool
    reasons: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return {"needs_review": self.needs_review, "reasons": list(self.reasons), "fields": list(self.fields)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Review:
        """Reads back what :meth:`to_dict` gave."""
        return cls(
            bool(data.get("needs_review")),
            tuple(str(reason) for reason in data.get("reasons") or ()),
            tuple(str(path) for path in data.get("fields") or ()),
        )


def review(provenance: Provenance, findings: Sequence[Finding], policy: ReviewPolicy | None = None) -> Review:
    """Applies ``policy`` (default :class:`ReviewPolicy`) to a result's provenance and findings.

    A value a person confirmed or corrected (grounding ``confirmed``) needs no review, and
    neither does a finding that names only such values: the person has looked.
    """
    policy = policy if policy is not None else ReviewPolicy()
    reasons: list[str] = []
    fields: list[str] = []
    checked = provenance.fields
    for path, item in checked.items():
        if not policy.wants_grounded(path):
            continue
        unsure = {"unknown": policy.unknown_needs_review, "approximate": policy.approximate_needs_review}
        if item.grounding == "ungrounded" or unsure.get(item.grounding, False):
            what = {"ungrounded": "is not printed on its page", "unknown": "could not be checked"}.get(
                item.grounding, "is printed with one character different"
            )
            reasons.append(f"{path} = {item.value!r} {what}")
            fields.append(path)
    confirmed = {path for path, item in checked.items() if item.grounding == "confirmed"}
    for finding in findings:
        present = [path for path in finding.fields if path in checked]  # a rule may name unset fields too
        if present and all(path in confirmed for path in present):
            continue
        if finding.rule == UNGROUNDED:
            # Decided above, field by field, under must_ground; a finding whose field has no
            # provenance (a result stored without it) is decided here, under the same policy.
            late = [path for path in finding.fields if path not in checked and policy.wants_grounded(path)]
            if late:
                reasons.append(f"{finding.rule}: {finding.message}")
                fields.extend(path for path in late if path not in fields)
            continue
        if finding.severity in policy.severities or any(
            fnmatch.fnmatchcase(finding.rule, rule) for rule in policy.rules
        ):
            if not policy.explained_need_review and explained(finding, checked) is not None:
                continue
            reasons.append(f"{finding.rule}: {finding.message}")
            fields.extend(path for path in finding.fields if path not in fields and path not in confirmed)
    return Review(bool(reasons), tuple(reasons), tuple(fields))
