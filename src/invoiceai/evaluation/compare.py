"""One document: the label against the extraction, field by field and row by row.

:func:`compare` is pure. A scalar is *checked* when the label or the extraction has it; it is
``correct`` when both say the same (:func:`~invoiceai.evaluation.fields.same_value`), else
``wrong`` (both set, different), ``missing`` (only the label has it) or ``extra`` (only the
extraction has it). Rows of list fields are paired by :func:`~invoiceai.evaluation.matching.match_rows`;
the fields of a paired row are checked like scalars, and every field of an unpaired row is
``missing`` or ``extra``.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Iterator, Sequence
from typing import Any, Literal

from invoiceai.evaluation.fields import Kind, Leaf, field_name, leaves, list_fields
from invoiceai.evaluation.matching import MATCH_THRESHOLD, match_rows

__all__ = ["Check", "Comparison", "RowCounts", "Status", "compare"]

Status = Literal["correct", "wrong", "missing", "extra"]


@dataclasses.dataclass(frozen=True)
class Check:
    """One compared value.

    Attributes:
        path: Where the value is in the label (``line_items[2].amount``); for a row only the
            extraction has, where it is in the extraction.
        predicted_path: Where the value is in the extraction, which is what findings and the
            review name; ``None`` when the extraction has no such row.
        kind: How it was compared.
        truth: The label's value (JSON-ready, ``None`` when unset).
        predicted: The extraction's value (JSON-ready, ``None`` when unset).
        status: ``correct``, ``wrong``, ``missing`` or ``extra``.
    """

    path: str
    predicted_path: str | None
    kind: Kind
    truth: Any
    predicted: Any
    status: Status

    @property
    def field(self) -> str:
        """The path without list indices (``line_items.amount``): the key of per-field figures."""
        return field_name(self.path)

    @property
    def ok(self) -> bool:
        """Whether the extraction got this value right."""
        return self.status == "correct"


@dataclasses.dataclass(frozen=True)
class RowCounts:
    """How the rows of one list field were paired.

    Attributes:
        truth: Rows in the label.
        predicted: Rows in the extraction.
        matched: Pairs (same row by :data:`~invoiceai.evaluation.matching.MATCH_THRESHOLD`).
        exact: Pairs whose every field is correct.
    """

    truth: int = 0
    predicted: int = 0
    matched: int = 0
    exact: int = 0

    def __add__(self, other: RowCounts) -> RowCounts:
        return RowCounts(
            self.truth + other.truth,
            self.predicted + other.predicted,
            self.matched + other.matched,
            self.exact + other.exact,
        )


@dataclasses.dataclass(frozen=True)
class Comparison:
    """The label against the extraction of one document.

    Attributes:
        checks: Every checked value, scalars first, then the rows of each list field.
        rows: Per list field (``line_items``...), how its rows were paired.
    """

    checks: tuple[Check, ...]
    rows: dict[str, RowCounts]

    @property
    def errors(self) -> tuple[Check, ...]:
        """The values the extraction got wrong (wrong, missing or extra)."""
        return tuple(check for check in self.checks if not check.ok)

    @property
    def correct(self) -> bool:
        """Whether every value and every row is right."""
        return not self.errors


def compare(
    truth: Any,
    predicted: Any,
    *,
    fields: Sequence[str] | None = None,
    threshold: float = MATCH_THRESHOLD,
) -> Comparison:
    """Compares an extraction with its label.

    Args:
        truth: The label, an :class:`~invoiceai.Invoice` (or another Pydantic model).
        predicted: The extraction, of the same model.
        fields: Compare only fields whose index-free path matches one of these shell patterns
            (``total``, ``seller.*``, ``line_items.*``); default every field.
        threshold: The least similarity for two rows to be paired.

    Returns:
        The comparison.
    """
    wanted = _selector(fields)
    checks = [check for check in _scalars(truth, predicted) if wanted(check.field)]
    rows: dict[str, RowCounts] = {}
    truth_lists, predicted_lists = list_fields(truth), list_fields(predicted)
    for name, expected in truth_lists.items():
        got = predicted_lists.get(name, [])
        if not (expected or got) or not any(wanted(f"{name}.{leaf.path}") for leaf in _row_leaves(expected, got)):
            continue
        row_checks, counts = _rows(name, expected, got, threshold, wanted)
        checks.extend(row_checks)
        rows[name] = counts
    return Comparison(tuple(checks), rows)


def _selector(patterns: Sequence[str] | None) -> Any:
    if not patterns:
        return lambda name: True
    return lambda name: any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def _row_leaves(expected: list[Any], got: list[Any]) -> Iterator[Leaf]:
    sample = (expected or got)[0]
    return leaves(sample, lists=True)


def _check(path: str, predicted_path: str | None, truth: Leaf | None, predicted: Leaf | None) -> Check | None:
    kind = truth.kind if truth is not None else predicted.kind if predicted is not None else "text"
    expected = truth.value if truth is not None else None
    got = predicted.value if predicted is not None else None
    if expected is None and got is None:
        return None
    if expected is None:
        status: Status = "extra"
    elif got is None:
        status = "missing"
    else:
        status = "correct" if expected == got else "wrong"
    shown_truth = _json(truth.raw) if truth is not None and expected is not None else None
    shown_predicted = _json(predicted.raw) if predicted is not None and got is not None else None
    return Check(path, predicted_path, kind, shown_truth, shown_predicted, status)


def _scalars(truth: Any, predicted: Any, prefix: str = "", predicted_prefix: str | None = "") -> Iterator[Check]:
    got = {leaf.path: leaf for leaf in leaves(predicted)} if predicted is not None else {}
    seen = set()
    for leaf in leaves(truth) if truth is not None else ():
        seen.add(leaf.path)
        where = None if predicted_prefix is None else predicted_prefix + leaf.path
        check = _check(prefix + leaf.path, where, leaf, got.get(leaf.path))
        if check is not None:
            yield check
    for path, leaf in got.items():
        if path not in seen:  # a custom schema's prediction with fields the label lacks
            check = _check(prefix + path, (predicted_prefix or "") + path, None, leaf)
            if check is not None:
                yield check


def _rows(
    name: str, expected: list[Any], got: list[Any], threshold: float, wanted: Any
) -> tuple[list[Check], RowCounts]:
    pairs = match_rows(expected, got, threshold=threshold)
    paired_truth = {i for i, _ in pairs}
    paired_predicted = {j for _, j in pairs}
    checks: list[Check] = []
    exact = 0
    for i, j in pairs:
        row = [
            check for check in _scalars(expected[i], got[j], f"{name}[{i}].", f"{name}[{j}].") if wanted(check.field)
        ]
        exact += all(check.ok for check in row)
        checks.extend(row)
    for i, row_model in enumerate(expected):
        if i not in paired_truth:
            checks.extend(c for c in _scalars(row_model, None, f"{name}[{i}].", None) if wanted(c.field))
    for j, row_model in enumerate(got):
        if j not in paired_predicted:
            where = f"{name}[{j}]."
            checks.extend(
                dataclasses.replace(c, path=c.predicted_path or c.path)
                for c in _scalars(None, row_model, where, where)
                if wanted(c.field)
            )
    return checks, RowCounts(len(expected), len(got), len(pairs), exact)


def _json(value: Any) -> Any:
    # Decimals and dates as strings, like Invoice.model_dump(mode="json") writes them.
    if value is None or isinstance(value, str):
        return value
    return str(value)
