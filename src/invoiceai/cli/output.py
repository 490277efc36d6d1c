"""Writing extraction results as JSON, JSON Lines or CSV.

JSON and JSON Lines are written as results arrive, so a long run shows its output as it goes and
holds no results in memory. CSV has one row per line item with the header fields repeated,
which is what spreadsheets and accounting imports expect; its columns are the union of every
row's, so it is written once all results are in. It works for any schema: nested objects become
dotted columns (``seller.name``) and the schema's list of objects (``line_items`` for an invoice)
becomes the rows. Other lists of objects become numbered columns (``tax_breakdown.1.rate``,
``tax_breakdown.2.rate``), lists of plain values one cell joined by ``"; "``: no cell holds JSON.
``csv-tax`` has one row per tax line (``tax_breakdown``) instead, with the header fields repeated.

CSV cells hold text read from untrusted documents, and a spreadsheet runs a cell that starts with
``=``, ``+``, ``-`` or ``@`` as a formula (CSV injection). So a text cell starting with one of
those, or with a tab or carriage return, gets a leading ``'`` (which spreadsheets hide), unless it
is a plain number such as ``-12.50``: amounts stay numbers. ``escape_formulas=False`` turns it off.

:class:`OutputFile` writes ``--out`` to a temporary file beside it and moves it into place at the
end, so an interrupted or failed run never leaves a half-written file or destroys an old one.
"""

from __future__ import annotations

import csv
import json
import os
import re
import sys
import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:  # the extractor (and pydantic) load when results arrive, not for --help
    from invoiceai.extractor.result import Extraction, ExtractionFailure

    Result = Extraction[Any] | ExtractionFailure

__all__ = ["CSV_ESCAPE_HELP", "FORMATS", "OutputFile", "ResultWriter", "escape_cell", "write_results"]

FORMATS = ("json", "jsonl", "csv", "csv-tax")

CSV_ESCAPE_HELP = "write CSV cells as read (by default a text cell starting with = + - @ gets a leading ')"
"""The help of ``--no-csv-escape``, the same for every command that writes CSV."""

_ROW_FIELDS = {"csv": "line_items", "csv-tax": "tax_breakdown"}

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def escape_cell(value: Any) -> Any:
    """Returns ``value`` with a leading ``'`` when a spreadsheet would run it as a formula.

    Only text is touched, and a plain number written as text (``"-12.50"``) is left alone.
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def _tolerate_unencodable(stream: TextIO) -> None:
    """Makes ``stream`` escape what its encoding cannot write (a non-UTF-8 file name) instead of failing."""
    reconfigure = getattr(stream, "reconfigure", None)
    if callable(reconfigure) and getattr(stream, "errors", None) == "strict":
        reconfigure(errors="backslashreplace")


class OutputFile:
    """Where results go: stdout, or ``path`` written through a temporary file moved into place.

    Use it as a context manager; it yields the stream. ``path`` is replaced only when
    :meth:`commit` was called (something was written), and then atomically (``os.replace``):
    a run that fails before writing anything, or is interrupted, never truncates an existing
    file, and a reader never sees half of one.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._temporary: Path | None = None
        self._stream: TextIO | None = None
        self._commit = False

    def __enter__(self) -> TextIO:
        if self.path is None:
            _tolerate_unencodable(sys.stdout)
            return sys.stdout
        # Through a link, the link's target is replaced (as writing to it would change the target).
        target = Path(os.path.realpath(self.path))
        self.path = target
        for number in range(100):
            candidate = target.with_name(f".{target.name}.{os.getpid()}.{number}.tmp")
            try:
                # 0o666 before the umask: the file gets the mode open(path, "w") would give it.
                descriptor = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                continue
            self._temporary = candidate
            # backslashreplace: a file name that is not UTF-8 (a lone surrogate) is written escaped
            # instead of failing the run after every result was paid for.
            self._stream = open(descriptor, "w", encoding="utf-8", newline="", errors="backslashreplace")
            return self._stream
        raise FileExistsError(f"cannot create a temporary file beside {target}; remove its .tmp files")

    def commit(self) -> None:
        """Asks for ``path`` to be replaced by what was written, when the context ends."""
        self._commit = True

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._stream is None or self._temporary is None or self.path is None:
            return
        try:
            self._stream.close()
            if self._commit:
                if self.path.exists():  # keep the mode of the file being replaced
                    os.chmod(self._temporary, self.path.stat().st_mode & 0o7777)
                os.replace(self._temporary, self.path)
        finally:
            self._temporary.unlink(missing_ok=True)


class ResultWriter:
    """Writes results one at a time in ``fmt`` (one of :data:`FORMATS`); call :meth:`close` at the end.

    The JSON output is byte for byte what ``json.dump(results, indent=2)`` writes, one element
    at a time.
    """

    def __init__(self, stream: TextIO, fmt: str, *, escape_formulas: bool = True) -> None:
        if fmt not in FORMATS:  # argparse restricts the choices; this guards direct callers
            raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
        self._stream = stream
        self._fmt = fmt
        self._escape = escape_formulas
        self._written = 0
        self._rows: list[dict[str, Any]] = []

    @property
    def written(self) -> int:
        """How many results were written so far."""
        return self._written

    def write(self, result: Result) -> None:
        """Writes one result (CSV: keeps its rows until :meth:`close`)."""
        if self._fmt in _ROW_FIELDS:
            self._rows.extend(_rows(result, _ROW_FIELDS[self._fmt]))
        elif self._fmt == "jsonl":
            self._stream.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
        else:
            element = textwrap.indent(json.dumps(result.to_dict(), ensure_ascii=False, indent=2), "  ")
            self._stream.write(("[\n" if self._written == 0 else ",\n") + element)
        self._written += 1
        self._stream.flush()

    def close(self) -> None:
        """Ends the output: closes the JSON array, or writes the CSV table."""
        if self._fmt in _ROW_FIELDS:
            _write_csv(self._rows, self._stream, escape=self._escape)
        elif self._fmt == "json":
            self._stream.write("\n]\n" if self._written else "[]\n")
        self._stream.flush()


def write_results(results: Sequence[Result], stream: TextIO, fmt: str, *, escape_formulas: bool = True) -> None:
    """Writes ``results`` to ``stream`` in ``fmt`` (one of :data:`FORMATS`)."""
    writer = ResultWriter(stream, fmt, escape_formulas=escape_formulas)
    for result in results:
        writer.write(result)
    writer.close()


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}{key}."))
        return flat
    if isinstance(value, list):
        if value and all(isinstance(item, dict) for item in value):
            numbered: dict[str, Any] = {}
            for number, item in enumerate(value, start=1):
                numbered.update(_flatten(item, f"{prefix}{number}."))
            return numbered
        return {prefix[:-1]: "; ".join("" if item is None else str(item) for item in value)}
    return {prefix[:-1]: "" if value is None else value}


def _row_list(data: dict[str, Any], wanted: str) -> str | None:
    """The name of the field whose elements become rows: ``wanted``, else the first list of objects."""
    lists = [key for key, value in data.items() if isinstance(value, list) and all(isinstance(v, dict) for v in value)]
    return wanted if wanted in lists else next(iter(lists), None)


def _rows(result: Result, wanted: str) -> Iterable[dict[str, Any]]:
    from invoiceai.extractor.result import ExtractionFailure

    base: dict[str, Any] = {"file": result.source, "document_id": result.document_id or ""}
    if isinstance(result, ExtractionFailure):
        yield {**base, "error": f"{type(result.error).__name__}: {result.error.message}"}
        return
    data = result.data.model_dump(mode="json")
    base["origin"] = result.origin
    base["cached"] = "true" if result.cached else "false"
    base["findings"] = "; ".join(f"{f.rule}: {f.message}" for f in result.findings)
    list_field = _row_list(data, wanted)
    items = data.pop(list_field) if list_field else []
    if wanted != "line_items":  # csv-tax: a row per tax line, the line items left out
        data.pop("line_items", None)
    header = {**base, **_flatten(data)}
    if not items:
        yield header
        return
    for number, item in enumerate(items, start=1):
        yield {**header, f"{list_field}.#": number, **_flatten(item, f"{list_field}.")}


def _write_csv(rows: Sequence[dict[str, Any]], stream: TextIO, *, escape: bool) -> None:
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    if "error" in columns:  # keep the error column last, where it is easy to spot
        columns.pop("error")
        columns["error"] = None
    writer = csv.DictWriter(stream, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    if not escape:
        writer.writeheader()
        writer.writerows(rows)
        return
    # Column names come from the data too (a schema's dict keys), so the header is escaped as well.
    writer.writerow({column: escape_cell(column) for column in columns})
    writer.writerows({name: escape_cell(value) for name, value in row.items()} for row in rows)
