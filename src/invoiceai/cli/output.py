"""Writing extraction results as JSON, JSON Lines or CSV.

CSV has one row per line item with the header fields repeated, which is what spreadsheets and
accounting imports expect. It works for any schema: nested objects become dotted columns
(``seller.name``) and the schema's list of objects (``line_items`` for an invoice) becomes the rows.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from invoiceai.extractor.result import Extraction, ExtractionFailure

__all__ = ["FORMATS", "write_results"]

FORMATS = ("json", "jsonl", "csv")

Result = Extraction[Any] | ExtractionFailure


def write_results(results: Sequence[Result], stream: TextIO, fmt: str) -> None:
    """Writes ``results`` to ``stream`` in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "json":
        json.dump([result.to_dict() for result in results], stream, ensure_ascii=False, indent=2)
        stream.write("\n")
    elif fmt == "jsonl":
        for result in results:
            stream.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
    elif fmt == "csv":
        _write_csv(results, stream)
    else:  # argparse restricts the choices; this guards direct callers
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}{key}."))
        return flat
    if isinstance(value, list):
        return {prefix[:-1]: json.dumps(value, ensure_ascii=False)} if value else {prefix[:-1]: ""}
    return {prefix[:-1]: "" if value is None else value}


def _row_list(data: dict[str, Any]) -> str | None:
    """The name of the field whose elements become rows: the first list of objects."""
    return next(
        (key for key, value in data.items() if isinstance(value, list) and all(isinstance(v, dict) for v in value)),
        None,
    )


def _rows(result: Result) -> Iterable[dict[str, Any]]:
    base: dict[str, Any] = {"file": result.source, "document_id": result.document_id or ""}
    if isinstance(result, ExtractionFailure):
        yield {**base, "error": f"{type(result.error).__name__}: {result.error.message}"}
        return
    data = result.data.model_dump(mode="json")
    base["origin"] = result.origin
    base["findings"] = "; ".join(f"{f.rule}: {f.message}" for f in result.findings)
    list_field = _row_list(data)
    items = data.pop(list_field) if list_field else []
    # Other lists (tax breakdown) stay as JSON in one column; the row list is spread out.
    header = {**base, **_flatten(data)}
    if not items:
        yield header
        return
    for number, item in enumerate(items, start=1):
        yield {**header, f"{list_field}.#": number, **_flatten(item, f"{list_field}.")}


def _write_csv(results: Sequence[Result], stream: TextIO) -> None:
    rows = [row for result in results for row in _rows(result)]
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    if "error" in columns:  # keep the error column last, where it is easy to spot
        columns.pop("error")
        columns["error"] = None
    writer = csv.DictWriter(stream, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
