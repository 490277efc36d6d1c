"""Loading any source (path, bytes, binary file, URL) into a :class:`Document`."""

from __future__ import annotations

import asyncio
import os
import select
import stat
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Union

from invoiceai.documents.fetch import afetch_url, fetch_url
from invoiceai.documents.model import Document, too_large
from invoiceai.documents.urls import display_url, is_url
from invoiceai.errors import InputError

if TYPE_CHECKING:
    import httpx2

    from invoiceai.config import Settings

__all__ = ["Source", "aload_document", "load_document"]

Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes], Document]
"""Anything :func:`load_document` accepts."""

_CHUNK = 1 << 20
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # not on Windows, which has no FIFOs to block on
_NOCTTY = getattr(os, "O_NOCTTY", 0)  # opening a terminal must not make it ours
_MAX_POLL_MS = 2**31 - 1  # poll() takes a C int of milliseconds (about 24.8 days)


def load_document(
    source: Source,
    *,
    settings: Settings | None = None,
    name: str | None = None,
    http_client: httpx2.Client | None = None,
) -> Document:
    """Loads a source into a :class:`Document`, detecting its type from the bytes.

    Args:
        source: A file path (``str`` or path-like), an ``http(s)://`` URL string, ``bytes``
            (or ``bytearray``/``memoryview``), a binary file object, or a :class:`Document`
            (returned as is).
        settings: Limits and URL policy (``max_document_bytes``, ``fetch_timeout``,
            ``max_fetch_redirects``, ``allow_private_urls``); ``Settings.load()`` when omitted.
        name: Display name; derived from the path, URL or file object when omitted.
        http_client: An ``httpx2.Client`` to fetch URLs with (for proxies or custom TLS). It is
            not closed. Redirects are still followed hop by hop and checked. A kept-alive
            connection that stalls in its headers ends the call at ``fetch_timeout``, but its
            reading thread lingers until the client's own read timeout: give it one.

    Returns:
        The loaded document.

    Raises:
        InputError: The path does not exist or cannot be read.
        EmptyDocumentError: The source is empty.
        DocumentTooLargeError: The source is larger than ``max_document_bytes``.
        UnsupportedFormatError: The bytes are not PDF, an image format we read, or XML.
        UnsafeURLError: A URL with a refused scheme or address (see :doc:`inputs`).
        FetchError: A URL could not be fetched.
        TypeError: ``source`` is of no supported type, or a file object is in text mode.
    """
    settings = _settings(settings)
    if isinstance(source, Document):
        return source
    if isinstance(source, str) and is_url(source):
        return _renamed(fetch_url(source, settings=settings, client=http_client), name)
    return _load_local(source, settings=settings, name=name)


async def aload_document(
    source: Source,
    *,
    settings: Settings | None = None,
    name: str | None = None,
    http_client: httpx2.AsyncClient | None = None,
) -> Document:
    """The async twin of :func:`load_document`; never blocks the event loop.

    URLs are fetched with an ``httpx2.AsyncClient``; files, streams and hashing run in a worker
    thread.

    Args:
        source: See :func:`load_document`.
        settings: See :func:`load_document`.
        name: See :func:`load_document`.
        http_client: An ``httpx2.AsyncClient`` to fetch URLs with (not closed).

    Returns:
        The loaded document.

    Raises:
        InputError: See :func:`load_document` (and its subclasses listed there).
        TypeError: See :func:`load_document`.
    """
    settings = _settings(settings)
    if isinstance(source, Document):
        return source
    if isinstance(source, str) and is_url(source):
        return _renamed(await afetch_url(source, settings=settings, client=http_client), name)
    return await asyncio.to_thread(_load_local, source, settings=settings, name=name)


def _renamed(document: Document, name: str | None) -> Document:
    return document if name is None else Document(data=document.data, media_type=document.media_type, name=name)


def _settings(settings: Settings | None) -> Settings:
    if settings is not None:
        return settings
    from invoiceai.config import Settings

    return Settings.load()


def _load_local(source: Source, *, settings: Settings, name: str | None) -> Document:
    max_bytes = settings.max_document_bytes
    if isinstance(source, Document):
        return source
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        return Document.from_bytes(data, name=name or "<bytes>", max_bytes=max_bytes)
    if isinstance(source, (str, os.PathLike)):
        path = Path(os.fspath(source))
        data = _read_path(path, max_bytes, settings.fetch_timeout)
        return Document.from_bytes(data, name=name or path.name, max_bytes=max_bytes)
    if hasattr(source, "read"):
        label = name or _stream_name(source)
        return Document.from_bytes(_read_stream(source, max_bytes, label), name=label, max_bytes=max_bytes)
    raise TypeError(
        f"Cannot load a {type(source).__name__}: pass a path, an http(s) URL, bytes, a binary file object "
        "or a Document."
    )


def _read_path(path: Path, max_bytes: int, wait: float) -> bytes:
    shown = _shown_path(path)
    try:
        with os.fdopen(_open(path), "rb") as handle:
            data = _read_handle(handle, path, shown, max_bytes, wait)
    except FileNotFoundError as exc:
        raise InputError(
            f"No such file: {shown}{_dangling(path)}. Check the path (relative paths start at {Path.cwd()})."
        ) from exc
    except IsADirectoryError as exc:
        raise InputError(f"{shown} is a directory; pass one file at a time.") from exc
    except PermissionError as exc:
        raise InputError(f"Cannot read {shown}: permission denied.") from exc
    except OSError as exc:
        raise InputError(f"Cannot read {shown}: {exc.strerror or exc}.") from exc
    except ValueError as exc:
        # A NUL byte, or a character the file system encoding cannot represent (UnicodeError).
        raise InputError(f"{shown} is not a valid path ({exc}); check the file name.") from exc
    if len(data) > max_bytes:
        raise too_large(path.name, None, max_bytes)
    return data


def _open(path: Path) -> int:
    """Opens ``path`` for reading without waiting for a FIFO's writer."""
    # O_BINARY (Windows): without it os.open() reads in text mode and translates line ends.
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | _NOCTTY
    try:
        # O_NONBLOCK: opening a FIFO that no process writes to would otherwise wait forever.
        return os.open(path, flags | _NONBLOCK)
    except BlockingIOError:
        # A regular file under a Samba/NFS lease refuses a non-blocking open (EWOULDBLOCK) where
        # a plain open waits for the lease; a FIFO's non-blocking open never raises this.
        return os.open(path, flags)


def _read_handle(handle: IO[bytes], path: Path, shown: str, max_bytes: int, wait: float) -> bytes:
    """Reads an opened path: a regular file, or a pipe (``/dev/stdin`` piped into the program)."""
    descriptor = handle.fileno()
    info = os.fstat(descriptor)
    if hasattr(os, "set_blocking"):  # Python < 3.12 on Windows has none (and no O_NONBLOCK)
        # Every read below waits for its bytes: a pipe's writer, or a file on a slow share.
        os.set_blocking(descriptor, True)
    if stat.S_ISFIFO(info.st_mode):
        if not _is_own_stdin(info):  # our own stdin has a writer: the shell that piped into us
            _await_writer(descriptor, path, shown, wait)
        return _read_stream(handle, max_bytes, path.name)
    if not stat.S_ISREG(info.st_mode):
        # A terminal or /dev/zero would be read until the user types or the size cap trips.
        raise InputError(
            f"{shown} is {_special_kind(info.st_mode)}, not a file; pass a file, or pipe the document's bytes in."
        )
    if info.st_size > max_bytes:
        raise too_large(path.name, info.st_size, max_bytes)
    # One byte past the size (not past the cap, which read() would allocate): the file may have
    # grown since fstat(), or report no size (/proc), and is then read on in chunks.
    data = handle.read(info.st_size + 1)
    return data if len(data) <= info.st_size else _read_stream(handle, max_bytes, path.name, start=data)


def _is_own_stdin(info: os.stat_result) -> bool:
    try:
        stdin = os.fstat(0)
    except OSError:  # no standard input at all
        return False
    return (stdin.st_dev, stdin.st_ino) == (info.st_dev, info.st_ino)


def _await_writer(descriptor: int, path: Path, shown: str, wait: float) -> None:
    """Waits up to ``wait`` seconds for a pipe's first bytes, or its end, from a writer.

    A FIFO opened without a writer reads as empty at once, and one whose writer starts a moment
    later would be missed: poll() waits for either without blocking forever.
    """
    if not hasattr(select, "poll"):
        return  # Windows: no FIFOs to wait on
    poller = select.poll()
    poller.register(descriptor, select.POLLIN | select.POLLHUP)
    deadline = time.monotonic() + wait
    while not poller.poll(min(_MAX_POLL_MS, max(1, int((deadline - time.monotonic()) * 1000)))):
        if time.monotonic() >= deadline:
            raise InputError(
                f"{shown} is {_pipe_kind(path)} and nothing wrote to it within {wait:g} s; start the program "
                "that writes it first, or pass a file (INVOICEAI_FETCH_TIMEOUT sets the wait)."
            )


def _pipe_kind(path: Path) -> str:
    # /dev/stdin and /dev/fd/N of a shell's `|` or `<(...)` resolve into /proc or /dev/fd.
    real = os.path.realpath(path)
    return "a pipe" if real.startswith(("/proc/", "/dev/fd/")) else "a named pipe (FIFO)"


def _special_kind(mode: int) -> str:
    if stat.S_ISCHR(mode):
        return "a character device (a terminal, /dev/zero, ...)"
    if stat.S_ISBLK(mode):
        return "a block device (a disk)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _dangling(path: Path) -> str:
    """`` (a broken link to TARGET)`` when ``path`` is a symbolic link whose target is missing."""
    try:
        return f" (a broken link to {_shown_path(Path(os.readlink(path)))})" if path.is_symlink() else ""
    except (OSError, ValueError):
        return ""


def _shown_path(path: Path) -> str:
    """``path`` as messages show it: quoted when it holds a newline or other unprintable character."""
    text = display_url(str(path)) if is_url(str(path)) else str(path)
    return text if text.isprintable() else repr(text)


def _read_stream(stream: IO[bytes], max_bytes: int, label: str, *, start: bytes = b"") -> bytes:
    """Reads ``stream`` to its end in chunks, after ``start`` (bytes already read from it)."""
    chunks = [start]
    total = len(start)
    while True:
        try:
            chunk: object = stream.read(min(_CHUNK, max_bytes + 1 - total))
        except OSError as exc:
            raise InputError(f"Cannot read {label}: {exc}.") from exc
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise TypeError(f"{label} is not a binary stream; open files in binary mode ('rb').")
        if not chunk:
            break
        chunks.append(bytes(chunk))
        total += len(chunk)
        if total > max_bytes:
            raise too_large(label, None, max_bytes)
    return b"".join(chunks)


def _stream_name(stream: object) -> str:
    raw = getattr(stream, "name", None)
    if isinstance(raw, str) and raw:
        return Path(raw).name
    return "<stream>"
