"""Reading what a client sends: bounded bodies, multipart uploads and JSON, into :class:`Submission` s.

A body is refused with 413 before it is read when its ``Content-Length`` is over the limit, and
while it is read when it turns out longer (chunked, or a lying header): the stream is counted as
it arrives and never held past the limit. Multipart is parsed from that counted stream by
Starlette's parser, which spools files past 1 MiB to a temporary file, so an upload is never
buffered whole in memory before it is checked; the document itself is then read into memory,
which the limit bounds. A batch's documents are stored one at a time as they are read, so a batch
is never held in memory whole: its submissions keep only each document's SHA-256 and type.

Every string a client sends (options, file names, the ``Idempotency-Key``) is checked here: no
control characters (PostgreSQL cannot store NUL, and none belongs in a name or a URL), no more
characters than its column holds, and ``pages`` must parse, so a bad request is a 422 at once
rather than a 500, or a job that fails later.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool

from invoiceai.server.errors import (
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from invoiceai.server.store import Submission, save_upload

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from starlette.datastructures import FormData, UploadFile
    from starlette.requests import Request

    from invoiceai.config import Settings

__all__ = ["JSON_LIMIT", "MAX_IDEMPOTENCY_KEY", "OPTION_FIELDS", "check_text", "idempotency_key", "path_id",
           "read_batch", "read_document"]  # fmt: skip

JSON_LIMIT = 1024 * 1024
"""Largest JSON body (a URL and options, or a batch of URLs)."""

OPTION_FIELDS = ("schema", "pages", "password", "callback_url")
_MAX_OPTION = 2048
# What the job store's columns hold (models.jobs); the others are Text, bounded by _MAX_OPTION.
_MAX_LENGTH = {"schema": 100, "pages": 200}

MAX_IDEMPOTENCY_KEY = 100
"""Longest ``Idempotency-Key`` header (for a document or a batch)."""

# C0 and C1 controls, DEL, and lone surrogates (which no database can store as UTF-8).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def check_text(value: str, field: str, max_length: int = _MAX_OPTION) -> str:
    """``value`` if it is at most ``max_length`` characters and holds no control character.

    Raises:
        InvalidRequestError: It is longer, or holds a control character (NUL, a newline, ...).
    """
    if len(value) > max_length:
        raise InvalidRequestError(f"{field} has {len(value)} characters; at most {max_length} are taken.")
    bad = _CONTROL.search(value)
    if bad is not None:
        raise InvalidRequestError(
            f"{field} holds the control character {bad.group()!a} at position {bad.start()}; send printable text."
        )
    return value


def idempotency_key(value: str | None) -> str | None:
    """The ``Idempotency-Key`` header checked (1 to 100 printable characters), or ``None`` when absent.

    Raises:
        InvalidRequestError: It is empty, too long or not printable.
    """
    if value is None:
        return None
    if not 0 < len(value) <= MAX_IDEMPOTENCY_KEY or not value.isprintable():
        raise InvalidRequestError(f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable characters.")
    return value


def path_id(value: str, kind: str) -> str:
    """A job's or batch's id from a path, as stored (a UUID); ``kind`` names it in the 404.

    Raises:
        NotFoundError: ``value`` is not a UUID, so no job or batch has it.
    """
    import uuid

    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise NotFoundError(f"No {kind} {value[:100]!a} for this key: {kind} ids are UUIDs.") from None


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _check_length(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(
            f"The request body is {int(declared)} bytes; the limit is {limit}. Send a smaller document."
        )


async def _counted(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise PayloadTooLargeError(f"The request body is over the limit of {limit} bytes. Send a smaller document.")
        yield chunk


async def _json(request: Request) -> Any:
    body = bytearray()
    async for chunk in _counted(request, JSON_LIMIT):
        body += chunk
    try:
        return json.loads(body)
    except ValueError as exc:
        raise InvalidRequestError(f"The body is not valid JSON: {exc}.") from exc


async def _form(request: Request, limit: int, max_files: int) -> FormData:
    from starlette.formparsers import MultiPartException, MultiPartParser

    parser = MultiPartParser(
        request.headers, _counted(request, limit), max_files=max_files, max_fields=20, max_part_size=_MAX_OPTION
    )
    try:
        return await parser.parse()
    except MultiPartException as exc:
        raise InvalidRequestError(f"The multipart body does not parse: {exc.message}") from exc


def _options(values: dict[str, Any], schemas: Any) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name in OPTION_FIELDS:
        value = values.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise InvalidRequestError(f"The option {name!r} must be a string of at most {_MAX_OPTION} characters.")
        options[name] = check_text(value, f"The option {name!r}", _MAX_LENGTH.get(name, _MAX_OPTION))
    schema = options.pop("schema", "invoice")
    if schema not in schemas:
        raise InvalidRequestError(f"Unknown schema {schema!r}; this service knows {', '.join(sorted(schemas))}.")
    if "pages" in options:
        _check_pages(options["pages"])
    if "callback_url" in options:  # its address is checked by the webhook's SSRF guard (submit.check_callback)
        _check_url(options["callback_url"], "callback_url", addresses=False)
    return {"schema_name": schema, **options}


def _check_pages(pages: str) -> None:
    """A job with pages that do not parse would only fail later: refuse it now."""
    from invoiceai.errors import PageSelectionError
    from invoiceai.render.selection import parse_pages

    try:
        parse_pages(pages)
    except PageSelectionError as exc:
        raise InvalidRequestError(exc.message) from exc


def _check_url(url: str, field: str, *, addresses: bool = True) -> None:
    """http(s) with a host; with ``addresses``, a literal private address is refused (names: when used)."""
    from urllib.parse import urlsplit

    from invoiceai.documents.urls import ip_literal, refusal_reason

    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise InvalidRequestError(f"{field} is not a URL: {exc}.") from exc
    if parts.scheme not in {"http", "https"} or not host:
        raise InvalidRequestError(f"{field} must be an http:// or https:// URL with a host.")
    address = ip_literal(host) if addresses else None
    reason = None if address is None else refusal_reason(address)
    if reason is not None:
        raise InvalidRequestError(f"{field} is refused: {reason}. Use a public address.")


def _url_submission(value: Any, options: dict[str, Any]) -> Submission:
    from invoiceai.documents.urls import display_url

    if not isinstance(value, str) or len(value) > _MAX_OPTION:
        raise InvalidRequestError("'url' must be an http(s) URL of at most 2048 characters.")
    _check_url(check_text(value, "'url'"), "url")
    return Submission(source_name=display_url(value), url=value, **options)


def _document(data: bytes, name: str, settings: Settings) -> Any:
    from invoiceai.documents import Document

    return Document.from_bytes(data, name=check_text(name, "The file name"), max_bytes=settings.max_document_bytes)


async def read_document(request: Request, *, limit: int, schemas: Any, settings: Settings) -> Submission:
    """One document: multipart with a ``file`` field, or JSON ``{"url": ...}``, plus options.

    Raises:
        PayloadTooLargeError: The body is over ``limit``.
        UnsupportedMediaTypeError: Neither multipart nor JSON, or a document of no supported type.
        InvalidRequestError: A field is missing or wrong.
    """
    kind = _content_type(request)
    if kind == "application/json":
        _check_length(request, JSON_LIMIT)
        body = await _json(request)
        if not isinstance(body, dict) or "url" not in body:
            raise InvalidRequestError('A JSON body must be an object with "url" (and optional options).')
        unknown = sorted(set(body) - {"url", *OPTION_FIELDS})
        if unknown:
            raise InvalidRequestError(f"Unknown field(s) {unknown}; known: url, {', '.join(OPTION_FIELDS)}.")
        return _url_submission(body["url"], _options(body, schemas))
    if kind != "multipart/form-data":
        raise UnsupportedMediaTypeError(
            "Send multipart/form-data with a 'file' field, or application/json with a 'url'."
        )
    _check_length(request, limit)
    form = await _form(request, limit, max_files=1)
    try:
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidRequestError("The multipart body needs a 'file' field holding the document.")
        options = _options({name: form.get(name) for name in OPTION_FIELDS}, schemas)
        document = _document(await upload.read(), upload.filename or "upload", settings)
    finally:
        await form.close()
    return Submission(source_name=document.name, document=document, **options)


async def read_batch(
    request: Request, *, limit: int, max_documents: int, schemas: Any, settings: Settings, engine: Engine
) -> tuple[list[Submission], bool]:
    """Many documents: multipart with ``file`` fields, or JSON ``{"urls": [...]}``; and ``message_batches``.

    Each uploaded document is stored in ``engine``'s job store as soon as it is read (see
    :func:`~invoiceai.server.store.save_upload`); the submissions returned hold only its SHA-256.

    Raises:
        PayloadTooLargeError: The body is over ``limit``.
        UnsupportedMediaTypeError: Neither multipart nor JSON, or a document of no supported type.
        InvalidRequestError: No document, too many, or a wrong field.
    """
    kind = _content_type(request)
    if kind == "application/json":
        _check_length(request, JSON_LIMIT)
        body = await _json(request)
        urls = body.get("urls") if isinstance(body, dict) else None
        if not isinstance(urls, list) or not urls:
            raise InvalidRequestError('A JSON batch must be an object with a non-empty "urls" list.')
        unknown = sorted(set(body) - {"urls", "message_batches", *OPTION_FIELDS})
        if unknown:
            raise InvalidRequestError(f"Unknown field(s) {unknown}.")
        _check_count(len(urls), max_documents)
        options = _options(body, schemas)
        return [_url_submission(url, options) for url in urls], _flag(body.get("message_batches"))
    if kind != "multipart/form-data":
        raise UnsupportedMediaTypeError("Send multipart/form-data with 'file' fields, or application/json with 'urls'.")
    _check_length(request, limit)
    form = await _form(request, limit, max_files=max_documents)
    try:
        files = [item for item in form.getlist("file") if not isinstance(item, str)]
        _check_count(len(files), max_documents)
        options = _options({name: form.get(name) for name in OPTION_FIELDS}, schemas)
        flag = _flag(form.get("message_batches"))
        submissions = [await _stored(item, n, settings, engine, options) for n, item in enumerate(files)]
    finally:
        await form.close()
    return submissions, flag


async def _stored(
    item: UploadFile, number: int, settings: Settings, engine: Engine, options: dict[str, Any]
) -> Submission:
    """Reads one part of a batch, stores it, and lets go of its bytes."""
    document = _document(await item.read(), item.filename or f"upload-{number}", settings)
    upload = await run_in_threadpool(save_upload, engine, document)
    return Submission(source_name=document.name, upload=upload, **options)


def _check_count(count: int, max_documents: int) -> None:
    if count == 0:
        raise InvalidRequestError("A batch needs at least one document ('file' fields or 'urls').")
    if count > max_documents:
        raise InvalidRequestError(f"A batch takes at most {max_documents} documents; this one has {count}.")


def _flag(value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.lower() in {"true", "1", "false", "0", ""}:
        return value.lower() in {"true", "1"}
    raise InvalidRequestError("'message_batches' must be true or false.")
