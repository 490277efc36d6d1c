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

from invoiceai.provenance.ground import UNGROUNDED
from invoiceai.provenance.model import Provenance
from invoiceai.schema.findings import Finding, Severity

__all__ = ["Review", "ReviewPolicy", "review"]

_INDEX = re.compile(r"\[\d+\]")


@dataclasses.dataclass(frozen=True)
class ReviewPolicy:
    """When a result needs a person.

    Field patterns are shell-style (``fnmatch``) and match a value's path without list indices:
    ``total``, ``seller.*``, ``line_items.amount``, ``*`` (everything).

    Attributes:
        must_ground: A value matching one of these that is not printed on its page needs review.
        unknown_needs_review: Also review values that could not be checked because their page
            has no words (scans without OCR); off by default, since that is not evidence of an error.
        approximate_needs_review: Also review values an OCR page shows with one character
            different; off by default, since OCR misreads characters far more often than the model.
        severities: Findings of these severities need review.
        rules: Findings whose rule matches one of these patterns need review, whatever their severity.
    """

    must_ground: tuple[str, ...] = ("*",)
    unknown_needs_review: bool = False
    approximate_needs_review: bool = False
    severities: tuple[Severity, ...] = ("error",)
    rules: tuple[str, ...] = ("IAI-CROSS-CHECK",)

    @classmethod
    def lenient(cls) -> ReviewPolicy:
        """Only the money totals, the invoice number, the dates and the payee's account must be grounded."""
        return cls(
            must_ground=("invoice_number", "issue_date", "due_date", "total", "amount_due", "tax_total",
                         "total_without_tax", "payment.iban", "seller.vat_id"),
        )  # fmt: skip

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
    """Applies ``policy`` (default :class:`ReviewPolicy`) to a result's provenance and findings."""
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
    for finding in findings:
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
            reasons.append(f"{finding.rule}: {finding.message}")
            fields.extend(path for path in finding.fields if path not in fields)
    return Review(bool(reasons), tuple(reasons), tuple(fields))
