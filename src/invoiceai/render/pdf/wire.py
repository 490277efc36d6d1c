"""The messages between this process and a PDF sandbox worker (see :mod:`invoiceai.render.pdf.sandbox`).

A message is one frame of a :class:`multiprocessing.connection.Connection` (read in this process
by :mod:`invoiceai.render.pdf.sandbox_channel`, within a deadline): a 4-byte length, a JSON
header of at most :data:`MAX_HEADER` bytes, then raw bytes (a PDF, an encoded page, an XML
attachment). Nothing is pickled: the worker parses hostile files, so what it sends back is read
as plain data, checked field by field, and turned into our own types here. An error travels as
its class name and fields and becomes the same :class:`~invoiceai.errors.InvoiceAIError` subclass
again if it is one a worker may send (see :func:`error_from`); any other name becomes a
:class:`~invoiceai.errors.CorruptDocumentError`.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeGuard, cast

from invoiceai import errors
from invoiceai.errors import CorruptDocumentError, DocumentTooLargeError, InvoiceAIError, redact
from invoiceai.pages import ImageBudget, Page

if TYPE_CHECKING:
    from invoiceai.render.pdf.embedded import EmbeddedXml

__all__ = [
    "MAX_HEADER",
    "WireError",
    "budget_from",
    "embedded_from",
    "embedded_to",
    "error_from",
    "error_to",
    "pack",
    "page_from",
    "page_to",
    "pages_from",
    "pages_to",
    "unpack",
]

MAX_HEADER = 16 * 1024 * 1024
"""Largest JSON header accepted (a page's text layer travels in it)."""

_LENGTH = struct.Struct(">I")
_SYNTAXES = frozenset({"cii", "ubl", "zugferd1"})
_CONTEXT = ("document_id", "page", "attempts", "request_id")
_LIMIT_FIELDS = ("setting", "limit", "found")
_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "document_id": str, "page": int, "attempts": int, "request_id": str,
    "setting": str, "limit": (int, float), "found": (int, float),
}  # fmt: skip


class WireError(Exception):
    """A message that does not parse (never raised to users: the caller turns it into a typed error)."""


def pack(header: dict[str, Any], payload: bytes | Sequence[bytes] = b"") -> bytes:
    """Returns one message: the header as JSON, then the payload (bytes, or parts joined in one copy)."""
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    parts = [payload] if isinstance(payload, bytes) else list(payload)
    return b"".join([_LENGTH.pack(len(text)), text, *parts])


def unpack(message: bytes) -> tuple[dict[str, Any], bytes]:
    """Splits a message into its header and payload.

    Raises:
        WireError: The message is malformed.
    """
    if len(message) < _LENGTH.size:
        raise WireError("a message shorter than its length field")
    (size,) = _LENGTH.unpack_from(message)
    end = _LENGTH.size + size
    if size > MAX_HEADER or end > len(message):
        raise WireError(f"a header of {size:,} bytes")
    try:
        header = json.loads(message[_LENGTH.size : end])
    except (ValueError, RecursionError) as exc:
        raise WireError(f"a header that is not JSON ({exc})") from None
    if not isinstance(header, dict):
        raise WireError("a header that is not an object")
    return header, message[end:]


def page_to(page: Page) -> bytes:
    """Packs a rendered page."""
    fields = {"index": page.index, "width": page.width, "height": page.height, "media_type": page.media_type}
    fields.update(text=page.text, born_digital=page.born_digital, scale=page.scale)
    return pack({"page": fields}, page.data)


def page_from(header: dict[str, Any], payload: bytes) -> Page:
    """Reads a page packed by :func:`page_to`.

    Raises:
        WireError: A field is missing or of the wrong type.
    """
    fields = _object(header.get("page"))
    return Page(
        index=_int(fields.get("index")),
        width=_int(fields.get("width")),
        height=_int(fields.get("height")),
        media_type=_str(fields.get("media_type")),
        data=payload,
        text=_optional_str(fields.get("text")),
        born_digital=bool(fields.get("born_digital")),
        scale=_float(fields.get("scale")),
    )


def pages_to(pages: Sequence[Page]) -> bytes:
    """Packs rendered pages into one message: their fields (each with its byte ``size``), then their bytes."""
    batch = []
    for page in pages:
        fields = {"index": page.index, "width": page.width, "height": page.height, "media_type": page.media_type}
        fields.update(text=page.text, born_digital=page.born_digital, scale=page.scale, size=len(page.data))
        batch.append(fields)
    return pack({"pages": batch}, [page.data for page in pages])


def pages_from(header: dict[str, Any], payload: bytes) -> list[Page]:
    """Reads pages packed by :func:`pages_to` (or one page packed by :func:`page_to`).

    Raises:
        WireError: A field is missing or of the wrong type, or the sizes do not add up to the payload.
    """
    if "page" in header:
        return [page_from(header, payload)]
    batch = header.get("pages")
    if not isinstance(batch, list) or not batch:
        raise WireError("a batch of no pages")
    view = memoryview(payload)
    pages, offset = [], 0
    for fields in batch:
        size = _int(_object(fields).get("size"))
        if size < 0 or offset + size > len(payload):
            raise WireError("a page past the end of its batch")
        pages.append(page_from({"page": fields}, bytes(view[offset : offset + size])))
        offset += size
    if offset != len(payload):
        raise WireError("bytes after the last page of a batch")
    return pages


def embedded_to(found: EmbeddedXml | None) -> bytes:
    """Packs the answer of an attachment lookup."""
    if found is None:
        return pack({"embedded": None})
    fields = {"name": found.name, "syntax": found.syntax, "source": found.source, "others": list(found.others)}
    return pack({"embedded": fields}, found.data)


def embedded_from(header: dict[str, Any], payload: bytes) -> EmbeddedXml | None:
    """Reads an answer packed by :func:`embedded_to`.

    Raises:
        WireError: A field is missing or of the wrong type.
    """
    from invoiceai.render.pdf.embedded import EmbeddedXml

    if header.get("embedded") is None:
        return None
    fields = _object(header["embedded"])
    syntax = _str(fields.get("syntax"))
    others = fields.get("others")
    if syntax not in _SYNTAXES or not isinstance(others, list):
        raise WireError("an attachment with an unknown syntax")
    return EmbeddedXml(
        name=_str(fields.get("name")),
        data=payload,
        syntax=cast("Any", syntax),
        source=_str(fields.get("source")),
        others=tuple(_str(name) for name in others),
    )


def error_to(error: InvoiceAIError) -> bytes:
    """Packs a typed error: its class name, message and context fields."""
    fields: dict[str, Any] = {"type": type(error).__name__, "message": error.message}
    for name in (*_CONTEXT, *_LIMIT_FIELDS):
        value = getattr(error, name, None)
        if value is None or isinstance(value, str | int | float):
            fields[name] = value
    return pack({"error": fields})


def error_from(header: dict[str, Any]) -> InvoiceAIError:
    """Rebuilds an error packed by :func:`error_to` as the same class, if a worker may send it.

    A worker reads one document, so it can only fail the way a document fails: an
    :class:`~invoiceai.errors.InputError` (a limit, a damaged or encrypted file) or an
    :class:`~invoiceai.errors.EInvoiceError` about its attachment, and only of a class whose fields
    travel here (none of its own, or a limit's ``setting``, ``limit`` and ``found``). Any other name
    (``ConfigurationError``, a backend error, a name that is not ours) becomes a
    :class:`~invoiceai.errors.CorruptDocumentError`. Fields of the wrong type are dropped.

    Raises:
        WireError: The fields are not an error.
    """
    fields = _object(header.get("error"))
    name, message = _str(fields.get("type")), _str(fields.get("message"))
    found = getattr(errors, name, None)
    if not _sendable(found):
        return CorruptDocumentError(f"The PDF could not be read ({name}: {message}).")
    error = found.__new__(found)
    InvoiceAIError.__init__(error, message)
    for field, kinds in _FIELD_TYPES.items():
        if field in _LIMIT_FIELDS and not isinstance(error, DocumentTooLargeError):
            continue
        value = fields.get(field)
        ok = isinstance(value, kinds) and not isinstance(value, bool)
        setattr(error, field, redact(value) if ok and isinstance(value, str) else value if ok else None)
    return error


def _sendable(found: Any) -> TypeGuard[type[InvoiceAIError]]:
    if not (isinstance(found, type) and issubclass(found, errors.InputError | errors.EInvoiceError)):
        return False
    return found.__init__ in (InvoiceAIError.__init__, DocumentTooLargeError.__init__)


def budget_from(fields: Any) -> ImageBudget:
    """Reads an :class:`~invoiceai.pages.ImageBudget` sent as its fields."""
    values = _object(fields)
    return ImageBudget(
        **{name: _int(values.get(name)) for name in ("max_long_edge", "max_pixels", "max_bytes", "max_side")}
    )


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WireError("a field that is not an object")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise WireError("a field that is not text")
    return value


def _optional_str(value: Any) -> str | None:
    return None if value is None else _str(value)


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise WireError("a field that is not an integer")
    return value


def _float(value: Any) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise WireError("a field that is not a number")
    return float(value)
