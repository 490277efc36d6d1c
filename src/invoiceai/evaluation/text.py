"""The evaluation report as a plain-text table, one column per setting."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from invoiceai.evaluation.figures import FieldStats, SettingResult, rows_dict

if TYPE_CHECKING:
    from invoiceai.evaluation.report import EvalReport

__all__ = ["headline_rows", "percent", "report_table"]


def percent(value: float | None) -> str:
    """``0.9731`` -> ``'97.3 %'``; ``None`` -> ``'-'``."""
    return "-" if value is None else f"{100 * value:.1f} %"


def _share(part: int, whole: int) -> str:
    return f"{part}/{whole}  {percent(part / whole if whole else None)}"


def _field_cell(stats: FieldStats | None) -> str:
    if stats is None or not stats.checked:
        return "-"
    unflagged = f"  ({stats.unflagged} not flagged)" if stats.unflagged else ""
    return f"{_share(stats.correct, stats.checked)}{unflagged}"


def headline_rows(results: Sequence[SettingResult]) -> list[tuple[str, list[str]]]:
    """The summary as ``(label, one cell per setting)`` rows; the HTML report shows the same."""
    rows: list[tuple[str, Callable[[SettingResult], str]]] = [
        ("documents fully correct", lambda r: _share(r.summary.fully_correct, r.summary.documents)),
        ("values correct", lambda r: _share(r.summary.values.correct, r.summary.values.checked)),
        ("line items P / R / F1", lambda r: _prf_cell(r, "line_items")),
        ("needs review", lambda r: _share(r.summary.needs_review, r.summary.documents)),
        ("wrong values not flagged", lambda r: f"{r.summary.values.unflagged} of {r.summary.values.errors}"),
        ("wrong values, document not flagged", lambda r: str(r.summary.unreviewed_errors)),
        ("failed", lambda r: str(r.summary.failed)),
        ("cost per document", lambda r: f"${r.summary.cost_per_document:.4f}"),
        ("latency mean / p95", lambda r: f"{r.summary.latency_mean:.2f} s / {r.summary.latency_p95:.2f} s"),
    ]
    return [(label, [cell(result) for result in results]) for label, cell in rows]


def _prf_cell(result: SettingResult, name: str) -> str:
    counts = result.rows.get(name)
    if counts is None:
        return "-"
    figures = rows_dict(counts)
    return " / ".join(percent(figures[key]).removesuffix(" %") for key in ("precision", "recall", "f1")) + " %"


def _grid(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]


def report_table(report: EvalReport, *, errors: int = 30) -> str:
    """Renders ``report`` for the terminal: summary, per-field accuracy, then the wrong values."""
    results = report.results
    names = [result.setting.name for result in results]
    skipped = f" ({len(report.skipped)} skipped: no label)" if report.skipped else ""
    lines = [f"invoiceai eval: {len(report.documents)} documents{skipped}", ""]
    lines += _grid(["", *names], [[label, *cells] for label, cells in headline_rows(results)])
    fields = list(dict.fromkeys(name for result in results for name in result.fields))
    if fields:
        lines += ["", *_grid(["field accuracy", *names], [
            [name, *(_field_cell(result.fields.get(name)) for result in results)] for name in fields
        ])]  # fmt: skip
    for result in results:
        lines += _errors(result, errors, len(results) > 1)
    return "\n".join(lines) + "\n"


def _errors(result: SettingResult, limit: int, named: bool) -> list[str]:
    found: list[list[str]] = []
    for outcome in result.outcomes:
        if outcome.error is not None:
            found.append([outcome.document.name, "(failed)", outcome.error, ""])
            continue
        for check in outcome.comparison.errors if outcome.comparison is not None else ():
            mark = "flagged" if outcome.flagged(check) else "NOT FLAGGED"
            shown = f"{_value(check.truth)} -> {_value(check.predicted)}"
            found.append([outcome.document.name, check.path, shown, mark])
    if not found:
        return []
    title = f"wrong values ({result.setting.name})" if named else "wrong values"
    lines = ["", f"{title}: {len(found)}"]
    lines += ["  " + line for line in _grid(["document", "field", "label -> extracted", ""], found[:limit])[1:]]
    if len(found) > limit:
        lines.append(f"  ... and {len(found) - limit} more (--format json lists them all)")
    return lines


def _value(value: Any) -> str:
    if value is None:
        return "(none)"
    text = " ".join(str(value).split())
    return repr(text if len(text) <= 40 else text[:39] + "…")
