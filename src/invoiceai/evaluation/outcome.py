"""What an evaluation records: the settings it compares and each document's outcome."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from decimal import Decimal

from invoiceai.evaluation.compare import Check, Comparison
from invoiceai.evaluation.dataset import LabelledDocument

__all__ = ["DocumentOutcome", "EvalSetting", "flagged"]


@dataclasses.dataclass(frozen=True)
class EvalSetting:
    """One way of extracting, compared with the others on the same documents.

    Attributes:
        model: Claude model id (default ``Settings.model``).
        detail: Image size, ``standard`` or ``high`` (default ``Settings.detail``).
        mode: What is sent: ``images``, ``images+text``, ``text`` or ``pdf`` (default ``images``).
    """

    model: str | None = None
    detail: str | None = None
    mode: str | None = None

    @property
    def name(self) -> str:
        """A label for reports: the parts that were set, e.g. ``claude-haiku-4-5 high``."""
        parts = [part for part in (self.model, self.detail, self.mode) if part]
        return " ".join(parts) or "default"


@dataclasses.dataclass(frozen=True)
class DocumentOutcome:
    """One document under one setting.

    Attributes:
        document: The labelled document.
        comparison: The label against the extraction; ``None`` when extraction failed.
        error: The failure (``"RateLimitError: ..."``), when extraction failed.
        needs_review: Whether the result was flagged for a person.
        review_fields: The paths the review named.
        cost_usd: What the extraction cost.
        latency_s: Seconds the extraction took (every stage of it).
        cached: Whether the result came from the cache (then it cost nothing now).
    """

    document: LabelledDocument
    comparison: Comparison | None
    error: str | None = None
    needs_review: bool = False
    review_fields: tuple[str, ...] = ()
    cost_usd: Decimal = Decimal(0)
    latency_s: float = 0.0
    cached: bool = False

    @property
    def correct(self) -> bool:
        """Whether the document was extracted and every value is right."""
        return self.comparison is not None and self.comparison.correct

    def flagged(self, check: Check) -> bool:
        """Whether the review named this value (or a part holding it)."""
        return flagged(check, self.review_fields)


def flagged(check: Check, review_fields: Sequence[str]) -> bool:
    """Whether ``review_fields`` name the value of ``check``, or the row or part holding it."""
    path = check.predicted_path or check.path
    return any(path == named or path.startswith((named + ".", named + "[")) for named in review_fields)
