"""The :class:`Document` value: loaded bytes with their detected type and content id."""

from __future__ import annotations

import dataclasses
import hashlib

from invoiceai.documents.detect import IMAGE_MEDIA_TYPES, PDF, XML, describe_unsupported, detect_media_type
from invoiceai.errors import DocumentTooLargeError, EmptyDocumentError, UnsupportedFormatError

__all__ = ["Document", "document_id_of"]


def document_id_of(data: bytes) -> str:
    """The id of a document's bytes: SHA-256, hex (what caches and errors key on)."""
    return hashlib.sha256(data).hexdigest()


@dataclasses.dataclass(frozen=True, slots=True)
class Document:
    """A loaded source document, ready for a renderer or the e-invoice reader.

    Build one with :func:`invoiceai.documents.load_document` (or :meth:`from_bytes`), which
    detects the type from the bytes. Constructing it directly trusts the given ``media_type``.

    Attributes:
        data: The document's bytes, exactly as loaded.
        media_type: The detected media type, one of
            :data:`invoiceai.documents.SUPPORTED_MEDIA_TYPES`.
        name: A display name (file name, last URL segment, or ``"<bytes>"``); never used for
            type detection.
        document_id: SHA-256 of ``data``, hex; the same bytes always give the same id.
    """

    data: bytes = dataclasses.field(repr=False)
    media_type: str
    name: str = "<bytes>"
    document_id: str = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        if type(self.data) is not bytes:
            # bytearray or memoryview: freeze a copy so the value cannot change under its id.
            object.__setattr__(self, "data", bytes(self.data))
        object.__setattr__(self, "document_id", document_id_of(self.data))

    @classmethod
    def from_bytes(cls, data: bytes, *, name: str = "<bytes>", max_bytes: int | None = None) -> Document:
        """Detects the type of ``data`` and wraps it.

        Args:
            data: The document's bytes.
            name: Display name.
            max_bytes: Size cap; ``None`` means no cap.

        Returns:
            The document.

        Raises:
            EmptyDocumentError: ``data`` is empty.
            DocumentTooLargeError: ``data`` is longer than ``max_bytes``.
            UnsupportedFormatError: The bytes are not a format invoiceai reads.
        """
        if not data:
            raise EmptyDocumentError(f"{name} is empty (0 bytes); check that the file was saved or downloaded fully.")
        if max_bytes is not None and len(data) > max_bytes:
            raise too_large(name, len(data), max_bytes)
        media_type = detect_media_type(data)
        if media_type is None:
            raise UnsupportedFormatError(
                f"{name} is {describe_unsupported(data)}, which invoiceai does not read. Supported: PDF, PNG, "
                "JPEG, TIFF, WebP, GIF, BMP, HEIC/HEIF and EN 16931 XML. Convert the file to PDF or an image.",
                document_id=document_id_of(data),
            )
        return cls(data=bytes(data), media_type=media_type, name=name)

    @property
    def size(self) -> int:
        """Length of :attr:`data` in bytes."""
        return len(self.data)

    @property
    def is_pdf(self) -> bool:
        """Whether the document is a PDF."""
        return self.media_type == PDF

    @property
    def is_image(self) -> bool:
        """Whether the document is a raster image."""
        return self.media_type in IMAGE_MEDIA_TYPES

    @property
    def is_xml(self) -> bool:
        """Whether the document is XML (an e-invoice candidate, read without rendering)."""
        return self.media_type == XML


def too_large(name: str, size: int | None, max_bytes: int) -> DocumentTooLargeError:
    """Builds the error for a document above the size cap.

    Args:
        name: Display name of the document.
        size: Its size, when known (``None`` while streaming past the cap).
        max_bytes: The configured cap.

    Returns:
        The error, ready to raise.
    """
    actual = f"{size:,} bytes" if size is not None else f"more than {max_bytes:,} bytes"
    return DocumentTooLargeError(
        f"{name} is {actual}, above the {max_bytes:,}-byte limit. Split or compress it, or raise "
        "Settings.max_document_bytes (INVOICEAI_MAX_DOCUMENT_BYTES)."
    )
