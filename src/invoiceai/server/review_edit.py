"""Corrections applied to a stored result: field paths, and a value checked by the job's schema.

A correction names a field the way findings and provenance do (``total``, ``seller.name``,
``line_items[2].amount``) and gives its new value as JSON. The value is set in a copy of the
result's data, the whole copy is validated by the schema (the :class:`~invoiceai.Invoice` model
for invoices), and the value stored is the one the model normalised (``12.5`` becomes
``"12.50"`` for money, a date string is checked as a date). Nothing here touches the database.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from invoiceai.server.errors import InvalidRequestError

__all__ = ["MAX_PATH", "corrected_data", "get_value", "parse_path", "set_value", "with_correction"]

MAX_PATH = 300
"""Longest field path accepted (the ``corrections.field`` column's size)."""

_PATH = re.compile(r"[A-Za-z_]\w*(?:\[\d{1,6}\])*(?:\.[A-Za-z_]\w*(?:\[\d{1,6}\])*)*")
_STEP = re.compile(r"([A-Za-z_]\w*)|\[(\d+)\]")

Step = str | int


def parse_path(path: str) -> list[Step]:
    """The steps of a field path: ``line_items[2].amount`` is ``["line_items", 2, "amount"]``.

    Raises:
        InvalidRequestError: The path is not of that form (422).
    """
    if not isinstance(path, str) or len(path) > MAX_PATH or not _PATH.fullmatch(path):
        raise InvalidRequestError(
            f"{str(path)[:80]!r} is not a field path; name a field as findings do: total, seller.name, "
            "line_items[0].amount."
        )
    return [match.group(1) if match.group(1) else int(match.group(2)) for match in _STEP.finditer(path)]


def get_value(data: Any, steps: list[Step]) -> tuple[bool, Any]:
    """``(True, value)`` when the path exists in ``data``, else ``(False, None)``."""
    node = data
    for step in steps:
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return False, None
            node = node[step]
        else:
            if not isinstance(node, dict) or step not in node:
                return False, None
            node = node[step]
    return True, node


def set_value(data: dict[str, Any], steps: list[Step], value: Any) -> None:
    """Sets the value at ``steps``; an empty object (``null``) on the way becomes ``{}``.

    Raises:
        InvalidRequestError: A list index past the end, or a step into a value that is not an
            object or a list.
    """
    node: Any = data
    for position, step in enumerate(steps):
        last = position == len(steps) - 1
        where = _shown(steps[:position]) or "the data"
        if isinstance(step, int):
            if not isinstance(node, list):
                raise InvalidRequestError(f"{where} is not a list; {_shown(steps)} cannot be set.")
            if step >= len(node):
                raise InvalidRequestError(f"{where} has {len(node)} items; index {step} is not one of them.")
        elif not isinstance(node, dict):
            raise InvalidRequestError(f"{where} is not an object; {_shown(steps)} cannot be set.")
        if last:
            node[step] = value
            return
        if isinstance(step, str) and node.get(step) is None:
            if isinstance(steps[position + 1], int):
                raise InvalidRequestError(f"{_shown(steps[: position + 1])} has no items to correct.")
            node[step] = {}  # an unset object (seller.address) gets the field; validation says if it may
        node = node[step]


def _shown(steps: list[Step]) -> str:
    text = "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in steps)
    return text.lstrip(".")


def _validation_message(error: Any) -> str:
    parts = []
    for item in error.errors()[:3]:
        where = ".".join(str(step) for step in item.get("loc", ()))
        parts.append(f"{where}: {item.get('msg', 'invalid')}" if where else str(item.get("msg", "invalid")))
    return "; ".join(parts)


def corrected_data(model: Any, data: dict[str, Any], path: str, value: Any) -> tuple[dict[str, Any], Any, Any]:
    """The result data with ``path`` set to ``value``, validated by ``model``.

    Args:
        model: The job's schema (a Pydantic model class).
        data: The stored result's ``data`` (not changed).
        path: The field's path.
        value: The new value, as JSON (``null`` clears an optional field).

    Returns:
        The corrected data, the old value (``None`` when it was not set) and the new value as
        the model normalised it.

    Raises:
        InvalidRequestError: The path is malformed or names no field of the model, or the
            corrected data does not validate (422).
    """
    from pydantic import ValidationError

    steps = parse_path(path)
    _, old = get_value(data, steps)
    corrected = copy.deepcopy(data)
    set_value(corrected, steps, value)
    try:
        validated = model.model_validate(corrected)
    except ValidationError as exc:
        raise InvalidRequestError(
            f"{path} = {_preview(value)} is not valid for {model.__name__}: {_validation_message(exc)}."
        ) from None
    found, normalised = get_value(validated.model_dump(mode="json"), steps)
    if not found:
        raise InvalidRequestError(f"{model.__name__} has no field {path!r}; name a field the result's data has.")
    if normalised is None and value is not None:
        # The Invoice model turns a model's unreadable amount or date into null instead of failing;
        # from a person, that is a typo to refuse, not a value to clear.
        raise InvalidRequestError(f"{path} = {_preview(value)} is not a valid value for that field.")
    set_value(corrected, steps, normalised)
    return corrected, old, normalised


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def with_correction(result: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """The result with ``entry`` in its ``corrections`` list and its review brought up to date.

    A field a person confirmed or corrected no longer needs review: ``review.reviewed_fields``
    lists those fields, and ``review.needs_review`` is false once every field the review named is
    among them (a reason that names no field keeps the result in review).
    """
    updated = dict(result)
    updated["corrections"] = [*result.get("corrections", []), entry]
    review = result.get("review")
    if isinstance(review, dict):
        reviewed = list(review.get("reviewed_fields", []))
        if entry["field"] not in reviewed:
            reviewed.append(entry["field"])
        fields = list(review.get("fields", []))
        open_fields = [field for field in fields if field not in reviewed]
        needs = bool(open_fields) or (bool(review.get("reasons")) and not fields)
        updated["review"] = {**review, "needs_review": needs, "reviewed_fields": reviewed}
    return updated
