"""The values an evaluation compares, and when two of them count as the same.

Every scalar of an :class:`~invoiceai.Invoice` the model is asked for is compared, by the kind
its field type declares (the :class:`~invoiceai.schema.fields.Normalizer` in its metadata):

- **money**: equal when both round to the same cent (``12.5`` = ``12.50``; ``12.504`` = ``12.50``);
- **quantities and percentages**: numerically equal (``19`` = ``19.00``);
- **dates**: the same day;
- **codes** (currency, country, IBAN, BIC, VAT id, document type): equal ignoring case; the
  model already writes them in one canonical form;
- **text**: equal after normalising what a reader would not call a difference: Unicode form,
  case, runs of whitespace and line breaks, typographic quotes and dashes, a space before a
  comma or a full stop, and punctuation at either end (``"ACME GmbH."`` = ``"acme  gmbh"``).
  Punctuation inside a value is kept: ``RE-2024/1`` and ``RE 2024 1`` are different numbers.

Fields marked :data:`~invoiceai.schema.fields.NOT_ASKED` (scheme codes, line ids, gross prices)
are left out: only an e-invoice's XML fills them, so a model can never get them right.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import unicodedata
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal

from invoiceai.schema.fields import asked_scalars, normalizer_of

__all__ = ["Kind", "Leaf", "field_name", "field_order", "leaves", "list_fields", "normalized", "same_value"]

Kind = Literal["money", "number", "date", "code", "text"]
"""How a value is compared (see the module docstring)."""

_KINDS: dict[str, Kind] = {
    "an amount": "money",
    "a quantity": "number",
    "a percentage": "number",
    "a date": "date",
    "text": "text",
}
_CENT = Decimal("0.01")
_INDEX = re.compile(r"\[\d+\]")
_TYPOGRAPHIC = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "\u00a0": " "})
_SPACE_BEFORE = re.compile(r"\s+([.,;:!?)])")
_SPACE_AFTER = re.compile(r"([(])\s+")
_EDGES = " .,;:!?\t\n"


@dataclasses.dataclass(frozen=True)
class Leaf:
    """One scalar field of a model, with its value.

    Attributes:
        path: Where it is, as findings and provenance write it: ``seller.address.city``,
            ``line_items[2].amount`` (indices are the model's own).
        kind: How it is compared.
        value: The value, normalised for comparison (``None`` when unset or blank).
        raw: The value as the model holds it, for reports.
    """

    path: str
    kind: Kind
    value: Any
    raw: Any = None


def field_name(path: str) -> str:
    """The path without list indices: ``line_items[2].amount`` -> ``line_items.amount``."""
    return _INDEX.sub("", path)


def leaves(model: Any, prefix: str = "", *, lists: bool = False) -> Iterator[Leaf]:
    """Yields every asked-for scalar of a Pydantic ``model``, set or not, in field order.

    Args:
        model: An :class:`~invoiceai.Invoice` or one of its parts.
        prefix: Prepended to each path (``"line_items[2]."``).
        lists: Also descend into list fields (``line_items[0].amount``); by default lists are
            left to :func:`list_fields`, since their rows are matched, not compared by position.
    """
    for path, info, value in asked_scalars(model, prefix, lists=lists):
        normalizer = normalizer_of(list(info.metadata))
        kind = _KINDS.get(normalizer.kind, "code") if normalizer is not None else _kind_of(value)
        yield Leaf(path, kind, normalized(kind, value), value)


def field_order(schema: type[Any], prefix: str = "") -> list[str]:
    """Every index-free field path of a Pydantic model class, in declaration order (for reports)."""
    import typing

    from pydantic import BaseModel

    order: list[str] = []
    for name, info in schema.model_fields.items():
        annotation = info.annotation
        inner = typing.get_args(annotation)[0] if typing.get_origin(annotation) is list else annotation
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            order.extend(field_order(inner, f"{prefix}{name}."))
        else:
            order.append(f"{prefix}{name}")
    return order


def list_fields(model: Any) -> dict[str, list[Any]]:
    """The list fields of a model whose items are models (``line_items``, ``tax_breakdown``...)."""
    from pydantic import BaseModel

    found: dict[str, list[Any]] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, list) and all(isinstance(item, BaseModel) for item in value):
            found[name] = value
    return found


def _kind_of(value: Any) -> Kind:
    # A custom schema's plain fields, without our annotated types.
    if isinstance(value, Decimal | int | float) and not isinstance(value, bool):
        return "number"
    if isinstance(value, dt.date):
        return "date"
    return "text"


def normalized(kind: Kind, value: Any) -> Any:
    """The form of ``value`` two values of ``kind`` are compared in; ``None`` for unset or blank."""
    if value is None:
        return None
    if kind in ("money", "number"):
        try:
            number = Decimal(str(value))
        except (InvalidOperation, ValueError):
            return None
        return number.quantize(_CENT, rounding=ROUND_HALF_UP) if kind == "money" else number.normalize()
    if kind == "date":
        return value
    text = unicodedata.normalize("NFKC", str(value)).translate(_TYPOGRAPHIC).casefold()
    if kind == "code":
        return text.strip() or None
    text = " ".join(text.split())
    text = _SPACE_AFTER.sub(r"\1", _SPACE_BEFORE.sub(r"\1", text))
    return text.strip(_EDGES) or None


def same_value(kind: Kind, truth: Any, predicted: Any) -> bool:
    """Whether two raw values of ``kind`` count as equal (both unset counts as equal)."""
    return bool(normalized(kind, truth) == normalized(kind, predicted))
