"""A batch job's final results, stored: what a collect returns once a document's bytes are gone.

Once a document has its final result (an extraction, or a failure), the result is written to the
job's store as a ``final`` record and the bytes stored for the document are dropped: a job no
longer keeps every document's bytes until it is deleted. Every later look answers the document
from its ``final`` record without loading, rendering or replaying it, so collecting again still
returns the same results (``collect is idempotent``), and cheaply.

An extraction is stored as the result cache stores one (:func:`~invoiceai.extractor.steps.encode_cached`:
JSON only, money as exact strings) plus what the cache does not keep (usage, findings, origin,
timings, the source's name). A failure keeps its error's type name, message, context and plain
attributes; reading it back rebuilds the same :class:`~invoiceai.errors.InvoiceAIError` subclass by
name, and only such a class: the store is data, never code.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from invoiceai.errors import InvoiceAIError
from invoiceai.extractor.result import Extraction, ExtractionFailure, Timings
from invoiceai.usage import Usage

if TYPE_CHECKING:
    from invoiceai.cache.batch_store import Records
    from invoiceai.extractor.batch_progress import Result

__all__ = ["final_record", "parse_final"]

_CONTEXT = ("document_id", "page", "attempts", "request_id")


def final_record(index: int, result: Result) -> Records:
    """Returns the ``final`` record of document ``index``'s result."""
    from invoiceai.extractor.steps import encode_cached

    value: dict[str, Any] = {
        "source": result.source, "document_id": result.document_id, "usage": _usage_dict(result.usage),
        "timings": dataclasses.asdict(result.timings),
    }  # fmt: skip
    if isinstance(result, Extraction):
        value["extraction"] = encode_cached(
            result.data, model=result.model, pages=result.pages, warnings=result.warnings
        )
        value["findings"] = [finding.model_dump(mode="json") for finding in result.findings]
        value["origin"] = result.origin
        value["cached"] = result.cached
        if result.review is not None:  # provenance was read: a later collect must show the same review
            value["provenance"] = result.provenance.to_dict()
            value["provenance_pages"] = {str(page): kind for page, kind in result.provenance.pages.items()}
            value["review"] = result.review.to_dict()
    else:
        value["error"] = _error_dict(result.error)
    return {("final", str(index)): json.dumps(value, ensure_ascii=False, separators=(",", ":"))}


def parse_final(text: str, schema: type[Any]) -> Result | None:
    """Reads a ``final`` record back; ``None`` when it no longer fits ``schema`` (the document is replayed then)."""
    from invoiceai.extractor.steps import decode_cached
    from invoiceai.schema.findings import Finding
    from invoiceai.schema.invoice import Invoice

    value = json.loads(text)
    usage = _usage_of(value.get("usage") or {})
    timings = Timings(**(value.get("timings") or {}))
    if "error" in value:
        return ExtractionFailure(
            error=_error_of(value["error"]), source=str(value.get("source") or ""),
            document_id=value.get("document_id"), usage=usage, timings=timings,
        )  # fmt: skip
    cached = decode_cached(value["extraction"], schema)
    if cached is None:
        return None
    data = cached.data
    if cached.dropped and isinstance(data, Invoice):
        data = data.with_normalization_findings(list(cached.dropped))
    result = Extraction(
        data=data, usage=usage, findings=tuple(Finding.model_validate(item) for item in value.get("findings") or ()),
        origin=value["origin"], document_id=str(value["document_id"]), pages=tuple(cached.pages), timings=timings,
        warnings=tuple(cached.warnings), source=str(value.get("source") or ""), model=cached.model,
        cached=bool(value.get("cached")),
    )  # fmt: skip
    if "review" in value:
        result = _with_review(result, value)
    return result


def _with_review(result: Extraction[Any], value: Mapping[str, Any]) -> Extraction[Any]:
    from invoiceai.provenance import Provenance, Review

    pages = {int(page): kind for page, kind in (value.get("provenance_pages") or {}).items()}
    provenance = Provenance.from_dict(value.get("provenance") or {}, pages)
    return dataclasses.replace(result, provenance=provenance, review=Review.from_dict(value["review"]))


def _usage_dict(usage: Usage) -> dict[str, Any]:
    value = dataclasses.asdict(usage)
    value["cost_usd"] = str(usage.cost_usd)
    return value


def _usage_of(value: Mapping[str, Any]) -> Usage:
    fields = {name: int(value.get(name) or 0) for name in ("input_tokens", "output_tokens", "requests")}
    fields["cache_read_input_tokens"] = int(value.get("cache_read_input_tokens") or 0)
    fields["cache_creation_input_tokens"] = int(value.get("cache_creation_input_tokens") or 0)
    return Usage(**fields, cost_usd=Decimal(str(value.get("cost_usd") or "0")))


def _error_dict(error: InvoiceAIError) -> dict[str, Any]:
    plain = {
        name: found
        for name, found in vars(error).items()
        if name not in ("message", "usage", *_CONTEXT) and not name.startswith("_") and _plain(found)
    }
    return {"type": type(error).__name__, "message": error.message, **error.context(), "attributes": plain}


def _error_of(value: Mapping[str, Any]) -> InvoiceAIError:
    kind = _error_class(str(value.get("type")))
    error = kind.__new__(kind)
    # The base initialiser alone: subclasses take other arguments, and every one keeps these.
    InvoiceAIError.__init__(
        error, str(value.get("message") or "The document failed."), **{name: value.get(name) for name in _CONTEXT}
    )
    for name, found in (value.get("attributes") or {}).items():
        setattr(error, name, found)
    return error


def _error_class(name: str) -> type[InvoiceAIError]:
    # Only invoiceai's own error classes (already imported), found by name.
    pending: list[type[InvoiceAIError]] = [InvoiceAIError]
    while pending:
        kind = pending.pop()
        if kind.__name__ == name and kind.__module__.startswith("invoiceai."):
            return kind
        pending.extend(kind.__subclasses__())
    return InvoiceAIError


def _plain(value: Any) -> bool:
    if value is None or isinstance(value, (str, int, float, bool)):
        return True
    if isinstance(value, (list, tuple)):
        return all(isinstance(item, (str, int, float, bool)) for item in value)
    return False
