"""The figures of an evaluation, per setting: accuracy, rows, review, cost and latency.

:meth:`SettingResult.of` sums up one setting's document outcomes.

The number that matters most is **wrong values not flagged**: values the extraction got wrong
that the review did not name, so nothing sends a person to them. A document the review did not
flag at all goes straight through; its wrong values are counted again as **wrong values in
documents not sent to review**.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from invoiceai.evaluation.compare import RowCounts
from invoiceai.evaluation.fields import field_order
from invoiceai.evaluation.outcome import DocumentOutcome, EvalSetting

__all__ = ["FieldStats", "SettingResult", "Summary", "rows_dict"]


@dataclasses.dataclass
class FieldStats:
    """How one field (index-free path, ``line_items.amount``) fared over every document.

    Attributes:
        checked: Values compared (the label or the extraction had one).
        correct: Values right.
        wrong: Both set, different.
        missing: Only the label had it.
        extra: Only the extraction had it.
        unflagged: Values not right that the review did not name.
    """

    checked: int = 0
    correct: int = 0
    wrong: int = 0
    missing: int = 0
    extra: int = 0
    unflagged: int = 0

    @property
    def errors(self) -> int:
        """Values not right: wrong, missing or extra."""
        return self.wrong + self.missing + self.extra

    @property
    def accuracy(self) -> float | None:
        """``correct / checked``; ``None`` when nothing was checked."""
        return self.correct / self.checked if self.checked else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {**dataclasses.asdict(self), "errors": self.errors, "accuracy": _round(self.accuracy)}


@dataclasses.dataclass(frozen=True)
class Summary:
    """The headline figures of one setting.

    Attributes:
        documents: Documents evaluated.
        failed: Documents whose extraction failed (counted as not fully correct).
        fully_correct: Documents with every value and every row right.
        needs_review: Documents the review flagged.
        values: Every compared value, summed over the fields.
        unreviewed_errors: Values not right in documents the review did not flag.
        cost_usd: Total cost.
        latencies: Seconds per document, in document order.
    """

    documents: int
    failed: int
    fully_correct: int
    needs_review: int
    values: FieldStats
    unreviewed_errors: int
    cost_usd: Decimal
    latencies: tuple[float, ...]

    @property
    def cost_per_document(self) -> Decimal:
        """Mean cost of a document, in US dollars."""
        return self.cost_usd / self.documents if self.documents else Decimal(0)

    @property
    def latency_mean(self) -> float:
        """Mean seconds per document."""
        return sum(self.latencies) / len(self.latencies) if self.latencies else 0.0

    @property
    def latency_p95(self) -> float:
        """95th percentile of seconds per document (nearest rank)."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        share = self.documents or 1
        return {
            "documents": self.documents,
            "failed": self.failed,
            "fully_correct": self.fully_correct,
            "fully_correct_rate": _round(self.fully_correct / share if self.documents else None),
            "needs_review": self.needs_review,
            "review_rate": _round(self.needs_review / share if self.documents else None),
            "values_checked": self.values.checked,
            "values_correct": self.values.correct,
            "value_accuracy": _round(self.values.accuracy),
            "value_errors": self.values.errors,
            "unflagged_errors": self.values.unflagged,
            "unreviewed_errors": self.unreviewed_errors,
            "cost_usd": f"{self.cost_usd:f}",
            "cost_usd_per_document": f"{self.cost_per_document.quantize(Decimal('0.000001')):f}",
            "latency_s_mean": round(self.latency_mean, 3),
            "latency_s_p95": round(self.latency_p95, 3),
        }


@dataclasses.dataclass(frozen=True)
class SettingResult:
    """One setting's outcomes and figures.

    Attributes:
        setting: The setting.
        outcomes: One per document, in document order.
        summary: The headline figures.
        fields: Per field (index-free path), in the order fields were first met.
        rows: Per list field (``line_items``...), the row pairing summed over documents.
    """

    setting: EvalSetting
    outcomes: tuple[DocumentOutcome, ...]
    summary: Summary
    fields: dict[str, FieldStats]
    rows: dict[str, RowCounts]

    @classmethod
    def of(cls, setting: EvalSetting, outcomes: Sequence[DocumentOutcome]) -> SettingResult:
        """Sums up ``outcomes``."""
        fields: dict[str, FieldStats] = {}
        rows: dict[str, RowCounts] = {}
        total = FieldStats()
        unreviewed = 0
        for outcome in outcomes:
            if outcome.comparison is None:
                continue
            for check in outcome.comparison.checks:
                missed = not check.ok and not outcome.flagged(check)
                for stats in (fields.setdefault(check.field, FieldStats()), total):
                    stats.checked += 1
                    setattr(stats, check.status, getattr(stats, check.status) + 1)
                    stats.unflagged += missed
                unreviewed += not check.ok and not outcome.needs_review
            for name, counts in outcome.comparison.rows.items():
                rows[name] = rows.get(name, RowCounts()) + counts
        summary = Summary(
            documents=len(outcomes),
            failed=sum(outcome.comparison is None for outcome in outcomes),
            fully_correct=sum(outcome.correct for outcome in outcomes),
            needs_review=sum(outcome.needs_review for outcome in outcomes),
            values=total,
            unreviewed_errors=unreviewed,
            cost_usd=sum((outcome.cost_usd for outcome in outcomes), Decimal(0)),
            latencies=tuple(outcome.latency_s for outcome in outcomes),
        )
        return cls(setting, tuple(outcomes), summary, _in_schema_order(fields, outcomes), rows)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the setting, the summary, per field, per list, and every document's errors."""
        return {
            "name": self.setting.name,
            "model": self.setting.model,
            "detail": self.setting.detail,
            "mode": self.setting.mode,
            "summary": self.summary.to_dict(),
            "fields": {name: stats.to_dict() for name, stats in self.fields.items()},
            "rows": {name: rows_dict(counts) for name, counts in self.rows.items()},
            "documents": [_outcome_dict(outcome) for outcome in self.outcomes],
        }


def _in_schema_order(fields: dict[str, FieldStats], outcomes: Sequence[DocumentOutcome]) -> dict[str, FieldStats]:
    if not outcomes:
        return fields
    order = {name: index for index, name in enumerate(field_order(type(outcomes[0].document.truth)))}
    return dict(sorted(fields.items(), key=lambda item: order.get(item[0], len(order))))


def rows_dict(counts: RowCounts) -> dict[str, Any]:
    """Precision, recall and F1 of a list's rows: paired rows, and paired rows with every field right."""
    return {
        **dataclasses.asdict(counts),
        **_prf(counts.matched, counts),
        **{f"exact_{key}": value for key, value in _prf(counts.exact, counts).items()},
    }


def _prf(hits: int, counts: RowCounts) -> dict[str, float | None]:
    precision = hits / counts.predicted if counts.predicted else None
    recall = hits / counts.truth if counts.truth else None
    f1 = None
    if precision is not None and recall is not None:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    elif not counts.truth and not counts.predicted:
        precision = recall = f1 = 1.0
    return {"precision": _round(precision), "recall": _round(recall), "f1": _round(f1)}


def _outcome_dict(outcome: DocumentOutcome) -> dict[str, Any]:
    errors = outcome.comparison.errors if outcome.comparison is not None else ()
    return {
        "source": str(outcome.document.path),
        "label": outcome.document.label,
        "ok": outcome.comparison is not None,
        "error": outcome.error,
        "correct": outcome.correct,
        "needs_review": outcome.needs_review,
        "review_fields": list(outcome.review_fields),
        "cost_usd": f"{outcome.cost_usd:f}",
        "latency_s": round(outcome.latency_s, 3),
        "cached": outcome.cached,
        "checked": len(outcome.comparison.checks) if outcome.comparison is not None else 0,
        "errors": [
            {
                "path": check.path,
                "field": check.field,
                "status": check.status,
                "truth": check.truth,
                "predicted": check.predicted,
                "flagged": outcome.flagged(check),
            }
            for check in errors
        ],
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
