"""A result checked again after a person confirmed or corrected values.

:func:`recheck` takes the invoice as a person left it, the invoice before, the stored provenance
and findings, and which fields people confirmed or corrected. It runs the validation rules again
on the new invoice (the arithmetic rules see the corrected value), keeps the findings that did
not come from validation (a cross-check, an extraction warning), drops the ``IAI-UNGROUNDED``
findings of the values a person settled, and weighs every value's confidence again. A settled
value is ``confirmed``: a person's word counts as high confidence and no longer forces review.
The word layer is not kept with a result, so a corrected value is not looked up on the page
again; its page stays, its box (where the old value was printed) goes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from invoiceai.provenance.ground import UNGROUNDED, invoice_values, json_value, named_by, weigh
from invoiceai.provenance.model import FieldProvenance, Provenance
from invoiceai.schema.findings import Finding
from invoiceai.schema.invoice import Invoice

__all__ = ["Rechecked", "recheck"]

_EMBEDDED = ("from the embedded e-invoice", "the e-invoice's pages disagree")


@dataclasses.dataclass(frozen=True)
class Rechecked:
    """The provenance and findings of a result after people's corrections."""

    provenance: Provenance
    findings: tuple[Finding, ...]


def recheck(
    invoice: Invoice,
    before: Invoice,
    provenance: Provenance,
    findings: Sequence[Finding],
    settled: Mapping[str, str],
) -> Rechecked:
    """Checks ``invoice`` again after people confirmed or corrected the fields in ``settled``.

    Args:
        invoice: The invoice with the people's values.
        before: The invoice the findings were made for (to tell validation findings from others).
        provenance: The stored provenance (empty when provenance was off).
        findings: The stored findings.
        settled: For each field a person acted on, the last action: ``confirm`` or ``correct``.

    Returns:
        The new provenance (``confirmed`` for the settled values) and findings.
    """
    from invoiceai.schema.validation import validate

    old_rules = set(validate(before))
    kept = [
        finding for finding in findings
        if finding not in old_rules and not (finding.rule == UNGROUNDED and set(finding.fields) & set(settled))
    ]  # fmt: skip
    checked = tuple(validate(invoice))
    fresh = checked + tuple(finding for finding in kept if finding not in checked)
    if not provenance.fields:
        return Rechecked(provenance, fresh)
    old = provenance.fields
    fields: dict[str, FieldProvenance] = {}
    for path, _name, value in invoice_values(invoice):
        item = old.get(path)
        if path in settled:
            page = item.page if item is not None else None
            matches = item.matches if item is not None and settled[path] == "confirm" else ()
            doubt = "corrected by a person" if settled[path] == "correct" else None
            fields[path] = FieldProvenance(path, json_value(value), page, matches, "confirmed", "high", (), doubt)
        elif item is not None:
            fields[path] = item
    named = named_by(fresh, fields)
    for path, item in fields.items():
        embedded = any(phrase in item.evidence for phrase in _EMBEDDED)
        confidence, evidence = weigh(item.grounding, item.matches[0] if item.matches else None, item.doubt,
                                     named.get(path, ()), embedded)  # fmt: skip
        fields[path] = dataclasses.replace(item, confidence=confidence, evidence=evidence)
    return Rechecked(Provenance(fields, provenance.pages), fresh)
