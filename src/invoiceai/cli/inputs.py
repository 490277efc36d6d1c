"""Checking arguments before any work starts, and turning FILE arguments into the inputs to read.

Every check here fails with one line and exit status 2 before a document is read or a request
is sent: an argparse ``type=`` raises :class:`argparse.ArgumentTypeError`, the rest raise
:class:`~invoiceai.errors.ConfigurationError`, which ``main`` reports as a usage error.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from invoiceai.cli.hints import cli_message
from invoiceai.errors import ConfigurationError, InvoiceAIError

__all__ = ["SUFFIXES", "expand_inputs", "is_url", "output_path", "page_selection", "shown_source"]

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
        raise argparse.ArgumentTypeError(f"{text}: {'is a directory' if path.is_dir() else 'no such file'}")
    return path


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
            raise ConfigurationError(f"{argument}: no such file or directory.")
    return inputs


def _invoices_in(directory: Path, recursive: bool) -> Iterator[Path]:
    for entry in sorted(directory.iterdir(), key=lambda item: item.name):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            if recursive:
                yield from _invoices_in(entry, recursive)
        elif entry.is_file() and entry.suffix.lower() in SUFFIXES:
            yield entry
