"""Loading documents: paths, bytes, file objects and URLs in, a typed :class:`Document` out.

The type is detected from magic bytes, sizes are capped by ``Settings.max_document_bytes``, and
URL sources are fetched with httpx2 behind an SSRF guard (see :mod:`invoiceai.documents.urls`).
Importing this package loads neither httpx2 nor any imaging library.
"""

from __future__ import annotations

from invoiceai.documents.detect import (
    IMAGE_MEDIA_TYPES,
    SUPPORTED_MEDIA_TYPES,
    describe_unsupported,
    detect_media_type,
)
from invoiceai.documents.fetch import afetch_url, fetch_url
from invoiceai.documents.load import Source, aload_document, load_document
from invoiceai.documents.model import Document
from invoiceai.documents.urls import refusal_reason

__all__ = [
    "IMAGE_MEDIA_TYPES",
    "SUPPORTED_MEDIA_TYPES",
    "Document",
    "Source",
    "afetch_url",
    "aload_document",
    "describe_unsupported",
    "detect_media_type",
    "fetch_url",
    "load_document",
    "refusal_reason",
]
