"""``invoiceai extract --dry-run``: what an extraction would send and cost, printed per document."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from invoiceai.extractor.estimate import DocumentEstimate

__all__ = ["COLUMNS", "write_estimates"]

COLUMNS = (
    "source",
    "origin",
    "pages",
    "requests",
    "input_tokens",
    "max_output_tokens",
    "cost_usd",
    "batch_cost_usd",
    "method",
)
"""The fields of each row in the table and CSV forms (JSON forms carry every field)."""

_METHODS = {"local": "local estimate", "count_tokens": "count_tokens API", "custom": "custom counter", "none": "-"}
_HEADINGS = (
    "document",
    "origin",
    "pages",
    "requests",
    "input tokens",
    "max output",
    "live USD",
    "batch USD",
    "counted",
)


def write_estimates(estimates: Sequence[DocumentEstimate], stream: TextIO, output_format: str | None) -> None:
    """Writes the estimates as a table (no format given), JSON, JSON Lines or CSV."""
    if output_format == "json":
        json.dump([estimate.to_dict() for estimate in estimates], stream, indent=2, ensure_ascii=False)
        stream.write("\n")
    elif output_format == "jsonl":
        for estimate in estimates:
            stream.write(json.dumps(estimate.to_dict(), ensure_ascii=False) + "\n")
    elif output_format in ("csv", "csv-tax"):  # an estimate has no tax lines: the same table
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows([_field(estimate.to_dict().get(name)) for name in COLUMNS] for estimate in estimates)
    else:
        _table(estimates, stream)


def _table(estimates: Sequence[DocumentEstimate], stream: TextIO) -> None:
    rows = [_row(estimate) for estimate in estimates]
    ok = [estimate for estimate in estimates if estimate.ok]
    rows.append(
        (
            "total",
            "",
            str(sum(estimate.pages for estimate in ok)),
            str(sum(estimate.requests for estimate in ok)),
            f"{sum(estimate.input_tokens for estimate in ok):,}",
            f"{sum(estimate.max_output_tokens for estimate in ok):,}",
            _money(_sum(estimate.cost_usd for estimate in ok)),
            _money(_sum(estimate.batch_cost_usd for estimate in ok)),
            "",
        )
    )
    widths = [max(len(row[index]) for row in [_HEADINGS, *rows]) for index in range(len(_HEADINGS))]
    stream.write("Dry run: nothing was sent to the Messages API.\n")
    for row in [_HEADINGS, *rows]:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells += [cell.rjust(width) for cell, width in zip(row[2:-1], widths[2:-1], strict=True)]
        stream.write("  ".join([*cells, row[-1]]).rstrip() + "\n")
    if any(estimate.method == "local" for estimate in estimates):
        stream.write(
            "local estimate: images w*h/750 tokens, text about 4 characters per token; "
            "--count-tokens asks the API's token counter instead.\n"
        )
    stream.write(
        "Costs: input plus the output upper bound (max_tokens), prompt caching not counted; "
        "each retry or re-ask adds a request.\n"
    )
    for estimate in estimates:
        for warning in estimate.warnings:
            stream.write(f"note: {estimate.source}: {warning}\n")


def _row(estimate: DocumentEstimate) -> tuple[str, ...]:
    if estimate.error is not None:
        return (estimate.source, "error", "", "", "", "", "", "", type(estimate.error).__name__)
    return (
        estimate.source,
        estimate.origin,
        str(estimate.pages),
        str(estimate.requests),
        f"{estimate.input_tokens:,}",
        f"{estimate.max_output_tokens:,}",
        _money(estimate.cost_usd),
        _money(estimate.batch_cost_usd),
        _METHODS.get(estimate.method, estimate.method),
    )


def _sum(values: Iterable[Decimal | None]) -> Decimal | None:
    total = Decimal(0)
    for value in values:
        if value is None:
            return None
        total += value
    return total


def _money(value: Decimal | None) -> str:
    return "no price" if value is None else f"{value.quantize(Decimal('0.0001')):f}"


def _field(value: object) -> object:
    return "" if value is None else value
