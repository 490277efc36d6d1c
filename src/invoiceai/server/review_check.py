"""A corrected result checked again: findings, confidence and review after a person's correction.

The review page's corrections change the stored result's data; this brings the rest of the
result in step (:func:`invoiceai.provenance.recheck.recheck`): the validation rules run on the
corrected invoice, the values people confirmed or corrected become ``confirmed`` (high
confidence, no longer a reason for review), every value's confidence is weighed again against
the new findings, and the review is made again under the default policy. A schema that is not
an invoice keeps its findings; only its ``review`` bookkeeping changes
(:func:`invoiceai.server.review_edit.with_correction`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["rechecked"]


def rechecked(model: Any, result: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    """``result`` (its data corrected, its ``corrections`` up to date) with findings, provenance and review redone.

    Args:
        model: The job's schema.
        result: The stored result after :func:`~invoiceai.server.review_edit.with_correction`.
        before: The result's data before this correction.
    """
    from invoiceai.provenance import Provenance, review
    from invoiceai.provenance.recheck import recheck
    from invoiceai.schema.findings import Finding
    from invoiceai.schema.invoice import Invoice

    if not (isinstance(model, type) and issubclass(model, Invoice)):
        return result
    settled = _settled(result.get("corrections") or (), result["data"])
    findings = [Finding.model_validate(finding) for finding in result.get("findings") or ()]
    stored = result.get("provenance") if isinstance(result.get("review"), dict) else None
    provenance = Provenance.from_dict(stored) if isinstance(stored, dict) else Provenance.empty()
    out = recheck(model.model_validate(result["data"]), model.model_validate(before), provenance, findings, settled)
    updated = {**result, "findings": [finding.model_dump(mode="json") for finding in out.findings]}
    if stored is not None:
        verdict = review(out.provenance, out.findings)
        updated["provenance"] = out.provenance.to_dict()
        updated["review"] = {**result["review"], **verdict.to_dict()}
    return updated


def _settled(corrections: Any, data: Any) -> dict[str, str]:
    """Each field's last action, counted only while the data still holds the value it left.

    A confirm of ``line_items[1].amount`` says nothing about the amount a later correction of the
    whole list put there; nor does an earlier correction of it.
    """
    from invoiceai.server.errors import InvalidRequestError
    from invoiceai.server.review_edit import get_value, parse_path

    settled: dict[str, str] = {}
    for entry in corrections:
        field = str(entry["field"])
        try:
            found, value = get_value(data, parse_path(field))
        except InvalidRequestError:  # a path that no longer parses settles nothing
            found, value = False, None
        if found and value == entry.get("new_value"):
            settled[field] = str(entry["action"])
        else:
            settled.pop(field, None)
    return settled
