"""What the review page shows of a job: each value with its provenance, findings and corrections.

The page's JavaScript only draws this: the walk over the result (which values are set, where
each is printed, which findings name it, whether it still needs review) happens here, in Python,
so it is tested without a browser.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from invoiceai.server.review_edit import get_value, parse_path

if TYPE_CHECKING:
    from sqlalchemy.engine import RowMapping

    from invoiceai.server.review_store import Correction

__all__ = ["RENDERABLE", "leaf_paths", "review_view"]

RENDERABLE = ("application/pdf", "image/")
"""Media types (exact, or a prefix ending in ``/``) whose pages the review page can show."""


def leaf_paths(data: Any, prefix: str = "") -> Iterator[str]:
    """The paths of every value that is set (not ``null``, not an empty list), in the data's order."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from leaf_paths(value, f"{prefix}.{key}" if prefix else key)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from leaf_paths(value, f"{prefix}[{index}]")
    elif data is not None and prefix:
        yield prefix


def _findings_by_field(findings: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    named: dict[str, list[dict[str, Any]]] = {}
    for finding in findings:
        shown = {key: finding.get(key) for key in ("rule", "severity", "message")}
        for path in finding.get("fields") or ():
            named.setdefault(path, []).append(shown)
    return named


def _field(path: str, result: dict[str, Any], named: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    steps = parse_path(path)
    _, value = get_value(result.get("data", {}), steps)
    _, where = get_value(result.get("provenance") or {}, steps)
    where = where if isinstance(where, dict) else {}
    return {
        "path": path, "value": value, "page": where.get("page"), "box": where.get("box"), "text": where.get("text"),
        "grounding": where.get("grounding"), "confidence": where.get("confidence"),
        "evidence": where.get("evidence") or [], "findings": named.get(path, []),
    }  # fmt: skip


def _pages(row: RowMapping, media_type: str | None, result: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    if media_type is None and row["upload_sha256"] is not None:  # the retention purge deleted the upload
        return [], (
            "This job's document was deleted from the job store after the upload retention "
            "(upload_retention_days), so its pages cannot be shown; its values and provenance are kept. "
            "Submit the document again to see its pages."
        )
    if media_type is None:
        return [], "This job's document was fetched from a URL and is not kept, so its pages cannot be shown."
    if not any(media_type == kind or (kind.endswith("/") and media_type.startswith(kind)) for kind in RENDERABLE):
        return [], "This job's document is an XML e-invoice: it has no pages to show."
    numbers = [int(number) for number in result.get("pages") or [1]]
    pages = [{"number": number, "url": f"/v1/jobs/{row['id']}/pages/{number}"} for number in numbers]
    return pages, ""


def review_view(
    row: RowMapping, result: dict[str, Any] | None, corrections: Sequence[Correction], media_type: str | None
) -> dict[str, Any]:
    """The review page's data for a job.

    Args:
        row: The job's row.
        result: Its stored result (``None`` until it succeeded).
        corrections: Its corrections, oldest first.
        media_type: The stored document's media type (``None`` for a URL job).

    Returns:
        ``job`` (id, status, source), ``review`` (needs_review, reasons), ``pages`` (number and
        image URL), ``pages_note`` (why there are none), ``fields`` (each set value with page,
        box, printed text, grounding, confidence, evidence, findings, ``needs_review`` and the
        last ``reviewed`` action) and ``corrections``.
    """
    job = {"id": row["id"], "status": row["status"], "source": row["source_name"], "schema": row["schema_name"]}
    trail = [correction.to_dict() for correction in corrections]
    if row["status"] != "succeeded" or result is None or "data" not in result:
        return {"job": job, "review": None, "pages": [], "pages_note": "", "fields": [], "corrections": trail}
    review = result.get("review")
    named = _findings_by_field(result.get("findings") or [])
    paths = list(leaf_paths(result["data"]))
    flagged = list((review or {}).get("fields") or [])
    reviewed_fields = set((review or {}).get("reviewed_fields") or [])
    paths += [path for path in [*flagged, *named] if path not in paths and _exists(result["data"], path)]
    last = {correction.field: correction.action for correction in corrections}
    fields = []
    for path in paths:
        field = _field(path, result, named)
        field["needs_review"] = path in flagged and path not in reviewed_fields
        field["reviewed"] = last.get(path)
        fields.append(field)
    pages, note = _pages(row, media_type, result)
    verdict = None
    if isinstance(review, dict):
        verdict = {"needs_review": bool(review.get("needs_review")), "reasons": list(review.get("reasons") or [])}
    return {"job": job, "review": verdict, "pages": pages, "pages_note": note, "fields": fields, "corrections": trail}


def _exists(data: Any, path: str) -> bool:
    try:
        return get_value(data, parse_path(path))[0]
    except Exception:  # a finding's path we cannot parse is simply not shown as a field
        return False
