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
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from invoiceai import errors
from invoiceai.errors import DocumentTooLargeError, InputError, InvoiceAIError

if TYPE_CHECKING:
    from invoiceai.documents import Document, Source
    from invoiceai.extractor.pipeline import Pipeline

__all__ = ["load_source", "source_record"]

_LIMIT_FIELDS = ("setting", "limit", "found")


def source_record(index: int, source: Source, pipeline: Pipeline) -> tuple[tuple[str, str], str]:
    """Returns the ``doc`` record of a source (see the module docstring)."""
    from invoiceai.extractor.steps import describe

    value: dict[str, Any]
    if isinstance(source, os.PathLike) or (isinstance(source, str) and "://" not in source):
        value = {"path": os.path.abspath(os.fspath(source)), "name": os.fspath(source)}
        return ("doc", str(index)), _dump(value)
    name = describe(source)  # a URL without its user info and query
    try:
        document = pipeline.load(source)
    except InputError as exc:
        value = {"failed": _error_record(exc), "name": name}
    else:
        value = {"data": base64.b64encode(document.data).decode("ascii"), "name": name}
    if value["name"].startswith("<"):
        value["name"] = "<bytes>"
    return ("doc", str(index)), _dump(value)


def load_source(record: Mapping[str, Any], pipeline: Pipeline) -> Document:
    """Loads a document from its ``doc`` record, named as it was at submission.

    Raises:
        InputError: The document could not be loaded at submission (the same error) or now.
    """
    if "failed" in record:
        raise _error_of(record["failed"])
    if "path" in record or "url" in record:
        # "url": a record written before URLs were fetched at submission.
        document = pipeline.load(record.get("path") or record["url"])
    else:
        document = pipeline.load(base64.b64decode(record["data"]))
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
