"""A result checked again after a person confirmed or corrected values.

:func:`recheck` takes the invoice as a person left it, the invoice before, the stored provenance
and findings, and which fields people confirmed or corrected. It runs the validation rules again
on the new invoice (the arithmetic rules see the corrected value), keeps the findings that did
not come from validation (a cross-check, an extraction warning), drops the ``IAI-UNGROUNDED``
findings of the values a person settled, and weighs every value's confidence again. A settled
value is ``confirmed``: a person's word counts as high confidence and no longer forces review.
The word layer is not kept with a result, so a corrected value is not looked up on the page
again; its page stays, its box (where the old value was printed) goes. A value that changed
without being settled keeps no old provenance (``unknown``), and findings about values that no
longer exist (a removed line) are dropped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

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
            An action on a part (``line_items[0]``, ``line_items``) settles every value under it.

    Returns:
        The new provenance (``confirmed`` for the settled values) and findings.
    """
    from invoiceai.schema.validation import validate

    old_rules = set(validate(before))
    values = {path: value for path, _name, value in invoice_values(invoice)}
    kept = [
        finding for finding in findings
        if finding not in old_rules and all(_exists(field, values) for field in finding.fields)
        and not (finding.rule == UNGROUNDED and any(_action(field, settled) for field in finding.fields))
    ]  # fmt: skip
    checked = tuple(validate(invoice))
    fresh = checked + tuple(finding for finding in kept if finding not in checked)
    if not provenance.fields:
        return Rechecked(provenance, fresh)
    fields = _fields(values, provenance.fields, settled)
    named = named_by(fresh, fields)
    for path, item in fields.items():
        embedded = any(phrase in item.evidence for phrase in _EMBEDDED)
        confidence, evidence = weigh(item.grounding, item.matches[0] if item.matches else None, item.doubt,
                                     named.get(path, ()), embedded)  # fmt: skip
        fields[path] = dataclasses.replace(item, confidence=confidence, evidence=evidence)
    return Rechecked(Provenance(fields, provenance.pages), fresh)


def _fields(
    values: Mapping[str, Any], old: Mapping[str, FieldProvenance], settled: Mapping[str, str]
) -> dict[str, FieldProvenance]:
    """Each value's provenance: ``confirmed`` when settled, the old one while the value is unchanged, else unknown."""
    fields: dict[str, FieldProvenance] = {}
    for path, value in values.items():
        item, action, shown = old.get(path), _action(path, settled), json_value(value)
        if action is not None:
            page = item.page if item is not None else None
            # A box shows where the old value was printed: it still stands for a confirmed, unchanged one only.
            kept = item.matches if item is not None and action == "confirm" and item.value == shown else ()
            doubt = "corrected by a person" if action == "correct" else None
            fields[path] = FieldProvenance(path, shown, page, kept, "confirmed", "high", (), doubt)
        elif item is not None and item.value == shown:
            fields[path] = item
        elif item is not None:
            # Changed without a person settling it: what was checked on the page was another value.
            fields[path] = FieldProvenance(path, shown, item.page, (), "unknown", "medium")
    return fields


def _action(path: str, settled: Mapping[str, str]) -> str | None:
    """The action that settled ``path``: its own, else that of the nearest part it belongs to (a whole item)."""
    while True:
        if path in settled:
            return settled[path]
        cut = max(path.rfind("."), path.rfind("["))
        if cut <= 0:
            return None
        path = path[:cut]


def _exists(field: str, values: Mapping[str, Any]) -> bool:
    """Whether ``field`` is still a value of the invoice, or a part holding some (a list, an item)."""
    return field in values or any(path.startswith((field + ".", field + "[")) for path in values)
