"""Checking arguments before any work starts, and turning FILE arguments into the inputs to read.

Every check here fails with one line and exit status 2 before a document is read or a request
is sent: an argparse ``type=`` raises :class:`argparse.ArgumentTypeError`, the rest raise
:class:`~invoiceai.errors.ConfigurationError`, which ``main`` reports as a usage error.
"""

from __future__ import annotations

import argparse
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from invoiceai.cli.hints import cli_message
from invoiceai.errors import ConfigurationError, InvoiceAIError

__all__ = [
    "SUFFIXES",
    "expand_inputs",
    "is_url",
    "needs_model",
    "output_path",
    "page_selection",
    "refuse_overwriting_inputs",
    "require_api_key",
    "shown_source",
]

SUFFIXES = frozenset(
    {".pdf", ".xml", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".gif", ".bmp", ".heic", ".heif"}
)
"""File name endings a directory argument picks up (any case): the document types invoiceai reads."""


def output_path(text: str) -> Path:
    """An argparse ``type=`` for ``--out``: a file that can be created, in a directory that exists."""
    path = Path(text).expanduser()
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a directory; give a file name, e.g. {path / 'invoices.json'}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write {text}: the directory {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise argparse.ArgumentTypeError(f"cannot write {text}: permission denied")
    return path


def page_selection(text: str) -> str:
    """An argparse ``type=`` for ``--pages``: parses the selection now, so a typo is a usage error."""
    from invoiceai.render.selection import parse_pages

    try:
        parse_pages(text)
    except InvoiceAIError as exc:
        # "pages='abc' does not parse" reads oddly after argparse's "argument --pages:" prefix
        raise argparse.ArgumentTypeError(cli_message(exc.message.replace("pages=", "", 1))) from None
    return text


def existing_file(text: str) -> Path:
    """An argparse ``type=`` for an input that must be a readable file (``convert --pdf``)."""
    path = Path(text).expanduser()
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text}: {_not_a_file(path)}")
    return path


def _not_a_file(path: Path) -> str:
    """Why ``path`` is not a file to read, in a few words."""
    if path.is_dir():
        return "is a directory"
    if path.exists():
        return "is not a regular file (a pipe, device or socket); pass a file"
    if path.is_symlink():
        return f"is a broken link (to {os.readlink(path)})"
    return "no such file"


def is_url(text: str) -> bool:
    """Whether ``text`` is an http(s) URL rather than a path."""
    return text.lower().startswith(("http://", "https://"))


def shown_source(text: str) -> str:
    """The ``source`` shown for an input: a URL without user, password, query or fragment.

    A query string often holds a signature or token (pre-signed links), so all of it goes.
    """
    if not is_url(text):
        return text
    parts = urlsplit(text)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address needs its brackets back
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def expand_inputs(arguments: Sequence[str], *, recursive: bool = False) -> list[str]:
    """Returns the inputs to read: URLs and files as given, each directory replaced by its invoices.

    A directory means the files in it whose names end in one of :data:`SUFFIXES`, sorted by name,
    hidden ones (a leading ``.``) skipped; with ``recursive``, those of its subdirectories too.

    Raises:
        ConfigurationError: An argument is neither a URL nor an existing path, or a directory
            holds no invoices.
    """
    inputs: list[str] = []
    for argument in arguments:
        if is_url(argument):
            inputs.append(argument)
            continue
        path = Path(argument).expanduser()
        if path.is_dir():
            found = [str(file) for file in _invoices_in(path, recursive)]
            if not found:
                deeper = "" if recursive else " (--recursive also reads its subdirectories)"
                raise ConfigurationError(
                    f"{argument}: no invoices in this directory{deeper}; it reads files ending in "
                    f"{', '.join(sorted(SUFFIXES))}."
                )
            inputs.extend(found)
        elif path.exists():
            inputs.append(argument)
        else:
            raise ConfigurationError(f"{_shown(argument)}: no such file or directory{_missing_hint(argument, path)}.")
    return inputs


def _shown(text: str) -> str:
    """``text`` quoted when it holds a newline or another character a terminal would not show."""
    return text if text.isprintable() else repr(text)


def _missing_hint(argument: str, path: Path) -> str:
    """What a missing FILE argument probably meant: standard input, a file:// URL, a broken link."""
    if argument == "-":
        return " (to read standard input, pass /dev/stdin)"
    if argument.lower().startswith("file:"):
        return f" (file:// URLs are not fetched; pass the path itself, {urlsplit(argument).path or '/'})"
    if path.is_symlink():
        return f" (a broken link to {_shown(os.readlink(path))})"
    return ""


def refuse_overwriting_inputs(out: Path | None, inputs: Sequence[str], option: str = "--out") -> None:
    """Fails before any work when ``out`` is one of the inputs: the results would replace the invoice.

    Compared as files (``os.path.samefile``), so a relative path, a link or a hard link to an
    input is caught too.

    Raises:
        ConfigurationError: ``out`` is an input file.
    """
    if out is None or not out.exists():
        return
    for given in inputs:
        if is_url(given):
            continue
        try:
            same = os.path.samefile(out, given)
        except (OSError, ValueError):
            continue
        if same:
            raise ConfigurationError(
                f"{option} {_shown(str(out))} is the input file {_shown(given)}: the results would replace it. "
                "Choose another file name."
            )


def require_api_key(inputs: Sequence[str], *, prefer_embedded: bool = True, password: str | None = None) -> None:
    """Fails before any work when an input needs the model and no API key is set.

    E-invoices alone need no key, so the inputs are looked at only when none is set, and only
    until the first one that needs the model.

    Raises:
        ConfigurationError: No ``ANTHROPIC_API_KEY`` (or ``ANTHROPIC_AUTH_TOKEN``) and an input needs the model.
    """
    if os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN"):
        return
    for given in inputs:
        if needs_model(given, prefer_embedded=prefer_embedded, password=password):
            raise ConfigurationError(
                f"No Claude API key: set the ANTHROPIC_API_KEY environment variable ({given} is read by the "
                "model; e-invoices alone need no key)."
            )


def needs_model(given: str, *, prefer_embedded: bool = True, password: str | None = None) -> bool:
    """Whether the file ``given`` is surely read by the model: an image, or a PDF without an e-invoice.

    A URL, an e-invoice XML and a file that cannot be read or opened are not counted: a URL may
    be an e-invoice, and a broken file fails on its own, with its own message.
    """
    if is_url(given):
        return False
    from invoiceai.config import Settings

    try:
        info = os.stat(given)
        if not stat.S_ISREG(info.st_mode):
            return False  # a pipe is read once, by the loader: peeking here would eat its start
        if info.st_size > Settings.load().max_document_bytes:
            return False  # too large: the loader says so, without this reading all of it first
        with open(given, "rb") as file:
            start = file.read(1024)
            head = start.lstrip(b"\xef\xbb\xbf \t\r\n")
            if head.startswith(b"<"):
                return False  # XML: an e-invoice, or not an invoice at all; never the model
            if not head.startswith(b"%PDF") or not prefer_embedded:
                return True
            data = start + file.read()
    except (OSError, ValueError):  # unreadable, or a name the OS refuses: reported by the loader
        return False
    from invoiceai.render.pdf import find_embedded_invoice

    try:
        return find_embedded_invoice(data, password=password, name=given) is None
    except Exception:  # encrypted, broken, not an invoice: the document reports that itself
        return False


def _invoices_in(directory: Path, recursive: bool) -> list[Path]:
    """The invoices in ``directory`` (with ``recursive``, below it too) in name order, each directory read once.

    Links to directories inside the tree are not followed (as ``find`` does not): a link back to a
    parent would otherwise walk without end. Directories are also tracked by (device, inode), so a
    bind mount looping back is read once.

    Raises:
        ConfigurationError: A directory in the tree cannot be read (permission denied, say).
    """
    found: list[Path] = []
    seen: set[tuple[int, int]] = set()
    # A stack of directory listings rather than recursion: a deep tree cannot exhaust Python's stack.
    stack = [iter(_listing(directory, seen))]
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
        elif entry.is_dir(follow_symlinks=False):
            if recursive:
                stack.append(iter(_listing(Path(entry.path), seen)))
        elif entry.is_file() and Path(entry.name).suffix.lower() in SUFFIXES:
            found.append(Path(entry.path))
    return found


def _listing(directory: Path, seen: set[tuple[int, int]]) -> list[os.DirEntry[str]]:
    """The visible entries of ``directory`` by name; none when it was read already."""
    try:
        info = directory.stat()
        if (info.st_dev, info.st_ino) in seen:
            return []
        seen.add((info.st_dev, info.st_ino))
        with os.scandir(directory) as listing:
            return sorted((entry for entry in listing if not entry.name.startswith(".")), key=lambda e: e.name)
    except OSError as exc:
        reason = (exc.strerror or type(exc).__name__).lower()
        raise ConfigurationError(
            f"{directory}: cannot read this directory ({reason}); fix its permissions or leave it out."
        ) from None
