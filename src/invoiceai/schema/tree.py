"""Normalises a raw invoice dict field by field, knowing each field's full path.

Pydantic validators see one field at a time and not where it sits, so a finding could only
say "amount". Walking the raw data against the model's fields first lets a finding say
``line_items[3].amount`` and show the value that was dropped.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from invoiceai.schema.codes import DOLLAR_COUNTRIES
from invoiceai.schema.fields import Hints, normalizer_of, placeholder_of
from invoiceai.schema.findings import Finding
from invoiceai.schema.normalize import AmbiguousValueError, NormalizationError, normalize_country

__all__ = ["NORMALIZATION_RULE", "PLACEHOLDER_RULE", "hints_from_context", "normalize_tree"]

NORMALIZATION_RULE = "IAI-NORMALIZE"
PLACEHOLDER_RULE = "IAI-PLACEHOLDER"


def hints_from_context(context: Any, data: Mapping[str, Any]) -> Hints:
    """Builds :class:`Hints` from the validation context and, failing that, from the data itself.

    A bare ``$`` is resolved from the seller's country (``US`` -> USD, ``CA`` -> CAD) when the
    caller gave no currency.
    """
    context = context if isinstance(context, Mapping) else {}
    currency = context.get("currency")
    if currency is None:
        currency = _seller_currency(data)
    order = context.get("date_order")
    return Hints(
        currency=str(currency).upper() if currency else None,
        date_order=order if order in ("DMY", "MDY", "YMD") else None,
    )


def _seller_currency(data: Mapping[str, Any]) -> str | None:
    seller = data.get("seller")
    address = seller.get("address") if isinstance(seller, Mapping) else None
    country = address.get("country_code") if isinstance(address, Mapping) else None
    if not isinstance(country, str):
        return None
    try:
        return DOLLAR_COUNTRIES.get(normalize_country(country))
    except NormalizationError:
        return None


def normalize_tree(
    model: type[BaseModel], data: Mapping[str, Any], hints: Hints, findings: list[Finding], path: str = ""
) -> dict[str, Any]:
    """Returns a copy of ``data`` with every normalisable field in canonical form.

    Values that cannot be normalised become ``None`` and add a finding to ``findings``.
    Keys the model does not know are passed through untouched (the model ignores them).

    Args:
        model: The model class ``data`` is meant for.
        data: Raw input, as a model reply or a user would give it.
        hints: What resolves ambiguous values.
        findings: Where to add findings.
        path: Dotted path of ``data`` inside the root object.

    Returns:
        The normalised copy.
    """
    result = dict(data)
    for name, field in model.model_fields.items():
        if name not in data:
            continue
        value = data[name]
        where = f"{path}.{name}" if path else name
        normalizer = normalizer_of(field.metadata)
        if normalizer is not None:
            result[name] = _apply(normalizer, value, hints, findings, where)
            continue
        submodel, is_list = _nested_model(field.annotation)
        if submodel is None:
            continue
        if is_list:
            if value is None:
                result[name] = []
            elif isinstance(value, list):
                result[name] = [
                    normalize_tree(submodel, item, hints, findings, f"{where}[{index}]")
                    if isinstance(item, Mapping)
                    else item
                    for index, item in enumerate(value)
                ]
        elif isinstance(value, Mapping):
            result[name] = normalize_tree(submodel, value, hints, findings, where)
        elif value is None:
            # An absent part: the field's own default (what leaving the key out would give).
            result[name] = {} if field.is_required() else field.get_default(call_default_factory=True)
    return result


def _apply(normalizer: Any, value: Any, hints: Hints, findings: list[Finding], where: str) -> Any:
    placeholder = placeholder_of(value)
    if placeholder is not None:
        # Said, not dropped silently: "n/a" may stand for a value the document really lacks, or
        # for one the model did not find.
        findings.append(
            Finding(
                rule=PLACEHOLDER_RULE,
                severity="info",
                message=f"{where}: the placeholder {placeholder!r} was read as no value.",
                fields=(where,),
            )
        )
        return None
    try:
        return normalizer(value, hints)
    except AmbiguousValueError as exc:
        reason = f"{exc}"
    except (ValueError, ArithmeticError) as exc:  # NormalizationError, and Python's own limits (int -> str)
        reason = f"could not read {_preview(value)} as {normalizer.kind} ({exc})"
    findings.append(
        Finding(
            rule=NORMALIZATION_RULE, severity="warning", message=f"{where}: {reason}; kept as null.", fields=(where,)
        )
    )
    return None


def _preview(value: Any) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int too long for Python to print
        return f"a {type(value).__name__} too long to show"
    return text if len(text) <= 60 else text[:57] + "..."


def _nested_model(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    origin = typing.get_origin(annotation)
    if origin is list:
        (item,) = typing.get_args(annotation)
        model, _ = _nested_model(item)
        return model, True
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            model, is_list = _nested_model(arg)
            if model is not None:
                return model, is_list
        return None, False
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    return None, False
