"""Loading paths, bytes and file objects (URLs are in test_documents_fetch.py)."""

from __future__ import annotations

import asyncio
import hashlib
import io
from pathlib import Path

import pytest

from invoiceai.config import Settings
from invoiceai.documents import Document, aload_document, load_document
from invoiceai.errors import DocumentTooLargeError, EmptyDocumentError, InputError, UnsupportedFormatError
from render_fixtures import build_pdf, invoice_page

PDF = build_pdf([invoice_page()])


class CountingStream(io.RawIOBase):
    """A binary stream that records how many bytes were read from it."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = self._inner.read(size)
        self.bytes_read += len(chunk)
        return chunk


def sources(tmp_path: Path) -> dict[str, object]:
    path = tmp_path / "scan.pdf"
    path.write_bytes(PDF)
    return {
        "bytes": PDF,
        "bytearray": bytearray(PDF),
        "memoryview": memoryview(PDF),
        "str path": str(path),
        "Path": path,
        "BytesIO": io.BytesIO(PDF),
        "open file": path.open("rb"),
    }


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview", "str path", "Path", "BytesIO", "open file"])
def test_every_local_source_kind_loads_the_same_document(tmp_path: Path, kind: str) -> None:
    source = sources(tmp_path)[kind]
    document = load_document(source, settings=Settings())  # type: ignore[arg-type]
    assert document.media_type == "application/pdf"
    assert document.data == PDF
    assert document.document_id == hashlib.sha256(PDF).hexdigest()
    expected_name = (
        "scan.pdf" if kind in ("str path", "Path", "open file") else ("<stream>" if kind == "BytesIO" else "<bytes>")
    )
    assert document.name == expected_name


def test_an_explicit_name_wins_and_a_document_passes_through() -> None:
    document = load_document(PDF, name="march.pdf", settings=Settings())
    assert document.name == "march.pdf"
    assert load_document(document) is document


def test_async_loading_gives_the_same_document(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    path.write_bytes(PDF)

    async def main() -> list[Document]:
        return [await aload_document(source, settings=Settings()) for source in (PDF, path, io.BytesIO(PDF))]

    documents = asyncio.run(main())
    assert {document.document_id for document in documents} == {hashlib.sha256(PDF).hexdigest()}


def test_size_cap_applies_to_every_source(tmp_path: Path) -> None:
    settings = Settings(max_document_bytes=len(PDF) - 1)
    path = tmp_path / "big.pdf"
    path.write_bytes(PDF)
    for source in (PDF, path, io.BytesIO(PDF)):
        with pytest.raises(DocumentTooLargeError, match="max_document_bytes"):
            load_document(source, settings=settings)
    assert load_document(PDF, settings=Settings(max_document_bytes=len(PDF))).size == len(PDF)


def test_a_stream_is_read_no_further_than_the_cap() -> None:
    stream = CountingStream(b"%PDF-1.7\n" + b"0" * 5_000_000)
    with pytest.raises(DocumentTooLargeError):
        load_document(stream, settings=Settings(max_document_bytes=100_000))  # type: ignore[arg-type]
    assert stream.bytes_read <= 100_001


def test_missing_paths_and_directories_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="No such file"):
        load_document(tmp_path / "missing.pdf", settings=Settings())
    with pytest.raises(InputError, match="directory"):
        load_document(tmp_path, settings=Settings())


def test_text_mode_files_and_unknown_types_are_type_errors(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with path.open() as handle, pytest.raises(TypeError, match="binary mode"):
        load_document(handle, settings=Settings())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Cannot load a int"):
        load_document(42, settings=Settings())  # type: ignore[arg-type]


def test_empty_and_unsupported_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    with pytest.raises(EmptyDocumentError):
        load_document(empty, settings=Settings())
    docx = tmp_path / "invoice.docx"
    docx.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    with pytest.raises(UnsupportedFormatError, match="ZIP archive"):
        load_document(docx, settings=Settings())


def test_settings_come_from_the_environment_when_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOICEAI_MAX_DOCUMENT_BYTES", "100")
    with pytest.raises(DocumentTooLargeError):
        load_document(PDF)


@pytest.mark.parametrize("path", ["invoice\x00.pdf", "scans/\ud800.pdf"], ids=["nul-byte", "lone-surrogate"])
def test_paths_the_os_cannot_represent_are_input_errors(path: str) -> None:
    # Services pass user-supplied names through; a NUL byte or an unencodable character made
    # os.stat() raise a bare ValueError instead of the typed error the caller handles.
    with pytest.raises(InputError, match="not a valid path"):
        load_document(path, settings=Settings())
    with pytest.raises(InputError, match="not a valid path"):
        asyncio.run(aload_document(Path(path), settings=Settings()))
