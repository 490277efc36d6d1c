"""The report of an evaluation: every document under every setting, and the figures.

An :class:`EvalReport` holds each document's outcome under each setting and sums them up per
setting (:class:`~invoiceai.evaluation.figures.SettingResult`). It renders as a terminal table
(:meth:`EvalReport.table`), as JSON (:meth:`EvalReport.to_dict`) and as a self-contained HTML
page (:meth:`EvalReport.html`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from invoiceai.evaluation.dataset import LabelledDocument
from invoiceai.evaluation.figures import SettingResult
from invoiceai.evaluation.html import report_html
from invoiceai.evaluation.outcome import DocumentOutcome, EvalSetting
from invoiceai.evaluation.text import report_table

__all__ = ["EvalReport"]


class EvalReport:
    """Every document under every setting, and the figures.

    Args:
        documents: The labelled documents, in order.
        skipped: ``(path, reason)`` of the documents left out.
        runs: Per setting, one outcome per document, in document order.

    Attributes:
        documents: As given.
        skipped: As given.
        results: One :class:`SettingResult` per setting, in the order given.
    """

    def __init__(
        self,
        documents: Sequence[LabelledDocument],
        skipped: Sequence[tuple[str, str]],
        runs: Mapping[EvalSetting, Sequence[DocumentOutcome]],
    ) -> None:
        self.documents = tuple(documents)
        self.skipped = tuple(skipped)
        self.results = tuple(SettingResult.of(setting, outcomes) for setting, outcomes in runs.items())

    def __repr__(self) -> str:
        return f"EvalReport(documents={len(self.documents)}, settings={[r.setting.name for r in self.results]})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"documents", "skipped", "settings": [...]}`` (see :meth:`SettingResult.to_dict`)."""
        return {
            "documents": len(self.documents),
            "skipped": [{"source": path, "reason": reason} for path, reason in self.skipped],
            "settings": [result.to_dict() for result in self.results],
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    def table(self, *, errors: int = 30) -> str:
        """A plain-text table for the terminal; ``errors`` caps the list of wrong values per setting."""
        return report_table(self, errors=errors)

    def html(self) -> str:
        """A self-contained HTML page (inline CSS, no scripts, nothing fetched)."""
        return report_html(self)
