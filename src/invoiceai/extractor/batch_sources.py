"""Where a batch job's documents come from: the ``doc`` records written at submission, and read to collect.

A path is kept as its absolute path and read again to collect (it must still hold the same
bytes: the document id is checked). Every other source is loaded at submission, exactly as a
live extraction loads it (``max_document_bytes``, the URL policy), and its bytes are stored:

* bytes, file objects and documents cannot be had again;
* a URL is fetched now, so that no credential in it (user info, a signed query string) is ever
  written to the store, and the job does not depend on the URL still answering hours later. Its
  record holds the bytes and the URL as errors show it (no user info, no query).

A source that cannot be loaded (too large, a fetch refused) does not fail the submission: its
record holds the typed error instead, and the collect reports that document's failure, as
``extract_many`` would.

Stored bytes are a record of their own (kind ``data``, keyed by the input position), apart from the
small ``doc`` record: a look reads every ``doc`` record but a document's bytes only when it
opens that document, and the bytes are dropped once the document's result is final (see
:mod:`~invoiceai.extractor.batch_final`). Records written before (the bytes inside ``doc``) are
still read.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from invoiceai import errors
from invoiceai.errors import DocumentTooLargeError, InputError, InvoiceAIError

if TYPE_CHECKING:
    from invoiceai.documents import Document, Source
    from invoiceai.extractor.pipeline import Pipeline

__all__ = ["load_source", "source_records"]

_LIMIT_FIELDS = ("setting", "limit", "found")


def source_records(index: int, source: Source, pipeline: Pipeline) -> dict[tuple[str, str], str]:
    """Returns the records of a source: its ``doc`` record and, for stored bytes, its ``data`` record."""
    from invoiceai.extractor.steps import describe

    value: dict[str, Any]
    key = str(index)
    if isinstance(source, os.PathLike) or (isinstance(source, str) and "://" not in source):
        value = {"path": os.path.abspath(os.fspath(source)), "name": os.fspath(source)}
        return {("doc", key): _dump(value)}
    name = describe(source)  # a URL without its user info and query
    records: dict[tuple[str, str], str] = {}
    try:
        document = pipeline.load(source)
    except InputError as exc:
        value = {"failed": _error_record(exc), "name": name}
    else:
        value = {"stored": True, "name": name}
        records[("data", key)] = base64.b64encode(document.data).decode("ascii")
    if value["name"].startswith("<"):
        value["name"] = "<bytes>"
    records[("doc", key)] = _dump(value)
    return records


def load_source(record: Mapping[str, Any], pipeline: Pipeline, stored: Callable[[], str | None]) -> Document:
    """Loads a document from its ``doc`` record, named as it was at submission.

    Args:
        record: The ``doc`` record.
        pipeline: Loads the document.
        stored: Reads the document's ``data`` record (called only for stored bytes).

    Raises:
        InputError: The document could not be loaded at submission (the same error) or now, or
            its stored bytes are gone.
    """
    if "failed" in record:
        raise _error_of(record["failed"])
    if "path" in record or "url" in record:
        # "url": a record written before URLs were fetched at submission.
        document = pipeline.load(record.get("path") or record["url"])
    else:
        data = stored() if record.get("stored") else record.get("data")
        if data is None:
            raise InputError(
                f"The stored bytes of {record.get('name') or 'a document'} are gone from the batch store, and its "
                "result was not stored with them; submit it again as a new job."
            )
        document = pipeline.load(base64.b64decode(data))
    return dataclasses.replace(document, name=str(record.get("name") or document.name))


def _error_record(exc: InvoiceAIError) -> dict[str, Any]:
    value: dict[str, Any] = {"type": type(exc).__name__, "message": exc.message}
    value.update({field: getattr(exc, field) for field in _LIMIT_FIELDS if getattr(exc, field, None) is not None})
    return value


def _error_of(value: Mapping[str, Any]) -> InvoiceAIError:
    # Only invoiceai's own input errors are rebuilt by name: the store is data, never code.
    found = getattr(errors, str(value.get("type")), None)
    kind = found if isinstance(found, type) and issubclass(found, InputError) else InputError
    message = str(value.get("message") or "The document could not be loaded when the job was submitted.")
    try:
        if issubclass(kind, DocumentTooLargeError):
            return kind(message, **{field: value[field] for field in _LIMIT_FIELDS if field in value})
        return kind(message)
    except TypeError:  # a subclass with another constructor: the message still says it all
        return InputError(message)


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
