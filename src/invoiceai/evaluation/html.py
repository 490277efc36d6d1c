"""The evaluation report as one self-contained HTML page: inline CSS, no script, nothing fetched.

Every value from a document or a label is escaped: labels and extractions are untrusted text.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from invoiceai.evaluation.figures import FieldStats, SettingResult
from invoiceai.evaluation.text import headline_rows, percent

if TYPE_CHECKING:
    from invoiceai.evaluation.report import EvalReport

__all__ = ["report_html"]

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #1f2328; padding: 0 1rem; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; }
th, td { border-bottom: 1px solid #d0d7de; padding: .3rem .7rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.bad { color: #b42318; font-weight: 600; } .ok { color: #1a7f37; }
.bar { display: inline-block; height: .6rem; background: #1a7f37; vertical-align: middle; margin-right: .4rem; }
code { font: 12px ui-monospace, monospace; background: #f6f8fa; padding: 0 .2rem; }
details { margin: .3rem 0; } summary { cursor: pointer; }
"""


def report_html(report: EvalReport) -> str:
    """Renders ``report`` as a complete HTML document."""
    results = report.results
    names = [escape(result.setting.name) for result in results]
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>invoiceai eval: {len(report.documents)} documents</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>invoiceai eval: {len(report.documents)} documents</h1>",
        "<h2>Summary</h2>",
        _table(["", *names], [[escape(label), *map(escape, cells)] for label, cells in headline_rows(results)]),
        "<h2>Accuracy per field</h2>",
        _fields_table(results, names),
    ]
    for result in results:
        parts += _documents(result, len(results) > 1)
    if report.skipped:
        parts.append(f"<h2>Skipped ({len(report.skipped)})</h2><ul>")
        parts += [f"<li><code>{escape(path)}</code>: {escape(reason)}</li>" for path, reason in report.skipped]
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _table(header: list[str], rows: list[list[str]], numeric_from: int = 1) -> str:
    head = "".join(f"<th>{cell}</th>" for cell in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{cell}</td>' if index >= numeric_from else f"<td>{cell}</td>"
            for index, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _field_cell(stats: FieldStats | None) -> str:
    if stats is None or not stats.checked:
        return "-"
    accuracy = stats.accuracy or 0.0
    bar = f'<span class="bar" style="width:{accuracy * 4:.2f}rem"></span>'
    text = f"{bar}{stats.correct}/{stats.checked} {escape(percent(accuracy))}"
    if stats.unflagged:
        text += f' <span class="bad">{stats.unflagged} not flagged</span>'
    return text


def _fields_table(results: tuple[SettingResult, ...], names: list[str]) -> str:
    fields = list(dict.fromkeys(name for result in results for name in result.fields))
    rows = [[f"<code>{escape(name)}</code>", *(_field_cell(r.fields.get(name)) for r in results)] for name in fields]
    return _table(["field", *names], rows)


def _documents(result: SettingResult, named: bool) -> list[str]:
    title = f"Documents ({escape(result.setting.name)})" if named else "Documents"
    parts = [f"<h2>{title}</h2>"]
    for outcome in result.outcomes:
        name = escape(outcome.document.name)
        review = ' <span class="bad">needs review</span>' if outcome.needs_review else ""
        if outcome.error is not None:
            parts.append(f'<details open><summary>{name}: <span class="bad">failed</span></summary>')
            parts.append(f"<p>{escape(outcome.error)}</p></details>")
            continue
        errors = outcome.comparison.errors if outcome.comparison is not None else ()
        if not errors:
            parts.append(f'<details><summary>{name}: <span class="ok">all correct</span>{review}</summary></details>')
            continue
        rows = [
            [
                f"<code>{escape(check.path)}</code>",
                escape(check.status),
                _value(check.truth),
                _value(check.predicted),
                "flagged" if outcome.flagged(check) else '<span class="bad">not flagged</span>',
            ]
            for check in errors
        ]
        parts.append(f'<details open><summary>{name}: <span class="bad">{len(errors)} wrong</span>{review}</summary>')
        parts.append(_table(["field", "", "label", "extracted", "review"], rows, numeric_from=99) + "</details>")
    return parts


def _value(value: Any) -> str:
    return "<em>(none)</em>" if value is None else escape(str(value))
