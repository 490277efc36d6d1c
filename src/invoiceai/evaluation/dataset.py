"""Labelled documents: a folder of invoices, each with the truth about it.

A document's label is, in this order:

1. ``<name>.json`` next to it: an :class:`~invoiceai.Invoice` as JSON (what
   ``Invoice.model_dump_json()`` writes), or one result of ``invoiceai extract --format jsonl``
   (its ``"data"`` is the invoice), so you can extract once, correct the file, and keep it;
2. for a PDF without one, the e-invoice XML embedded in it (Factur-X, ZUGFeRD, XRechnung): the
   PDF is its own label, and the evaluation reads its visible pages with the model.

Documents without either are skipped, with the reason. Every label is read before any model
call, so a malformed label stops the evaluation before it costs anything.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from invoiceai.errors import ConfigurationError, InvoiceAIError

__all__ = ["DOCUMENT_SUFFIXES", "Dataset", "LabelledDocument", "load_dataset"]

DOCUMENT_SUFFIXES = frozenset({".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".gif", ".bmp", ".heic"})
"""Files a folder is searched for (any case). XML e-invoices are read, not extracted: nothing to measure."""

LabelKind = Literal["json", "embedded"]


@dataclasses.dataclass(frozen=True)
class LabelledDocument:
    """A document and the truth about it.

    Attributes:
        path: The document.
        truth: What a perfect extraction returns (an :class:`~invoiceai.Invoice` by default).
        label: ``json`` (a ``<name>.json`` file) or ``embedded`` (the PDF's own e-invoice XML).
    """

    path: Path
    truth: Any
    label: LabelKind

    @property
    def name(self) -> str:
        """The file name, as reports show it."""
        return self.path.name


@dataclasses.dataclass(frozen=True)
class Dataset:
    """The documents an evaluation runs on.

    Attributes:
        documents: The labelled documents, sorted by path.
        skipped: ``(path, reason)`` of each document left out (no label, not an invoice...).
    """

    documents: tuple[LabelledDocument, ...]
    skipped: tuple[tuple[str, str], ...] = ()


def load_dataset(
    paths: Iterable[str | Path], *, recursive: bool = False, schema: type[Any] | None = None, embedded: bool = True
) -> Dataset:
    """Finds the labelled documents in ``paths`` (files or folders).

    Args:
        paths: Documents and folders of documents.
        recursive: Also look in the folders' subfolders.
        schema: The Pydantic model labels are read into (default :class:`~invoiceai.Invoice`).
        embedded: Use a PDF's embedded e-invoice as its label when it has no ``.json``.

    Returns:
        The dataset.

    Raises:
        ConfigurationError: A path does not exist, a label is not valid JSON or does not fit the
            schema, or nothing labelled was found.
    """
    if schema is None:
        from invoiceai.schema import Invoice

        schema = Invoice
    documents: list[LabelledDocument] = []
    skipped: list[tuple[str, str]] = []
    for path in _documents(paths, recursive):
        label = path.with_suffix(".json")
        if label.is_file():
            documents.append(LabelledDocument(path, read_label(label, schema), "json"))
            continue
        truth, reason = _embedded_truth(path) if embedded and path.suffix.lower() == ".pdf" else (None, None)
        if truth is not None:
            documents.append(LabelledDocument(path, truth, "embedded"))
        else:
            skipped.append((str(path), reason or f"no label: write the truth to {label.name}"))
    if not documents:
        raise ConfigurationError(
            "found no labelled documents: give each document a <name>.json label (an Invoice as JSON), "
            "or use e-invoice PDFs, which are their own label"
            + (f" ({len(skipped)} documents without a label)" if skipped else "")
        )
    return Dataset(tuple(documents), tuple(skipped))


def read_label(path: Path, schema: type[Any]) -> Any:
    """Reads one label file into ``schema``.

    Raises:
        ConfigurationError: The file is not JSON, or not an object that fits the schema.
    """
    from pydantic import ValidationError

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigurationError(f"cannot read the label {path}: {exc}; fix the file or remove it") from exc
    if isinstance(data, dict) and isinstance(data.get("data"), dict) and "origin" in data:
        data = data["data"]  # one result of `invoiceai extract`
    if not isinstance(data, dict):
        raise ConfigurationError(
            f"the label {path} is a JSON {type(data).__name__}, not an object: "
            f"write one {schema.__name__} as JSON (Invoice.model_dump_json() writes one)"
        )
    try:
        label = schema.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top)"
        raise ConfigurationError(
            f"the label {path} is not a valid {schema.__name__}: {where}: {first['msg']}; fix the file or remove it"
        ) from exc
    from invoiceai.schema.tree import NORMALIZATION_RULE

    findings = getattr(label, "normalization_findings", None) or []
    # Normalisation keeps an unreadable value as null: in a label that would silently score a
    # right answer as wrong. A placeholder ("n/a", "-") is a label's way to write "no value".
    unreadable = [finding for finding in findings if finding.rule == NORMALIZATION_RULE]
    if unreadable:
        raise ConfigurationError(
            f"the label {path} has a value that cannot be read: {unreadable[0].message} Fix the file."
        )
    return label


def _documents(paths: Iterable[str | Path], recursive: bool) -> list[Path]:
    found: list[Path] = []
    for given in paths:
        path = Path(given).expanduser()
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            found.extend(sorted(entry for entry in path.glob(pattern) if entry.is_file() and _is_document(entry)))
        elif path.is_file():
            found.append(path)
        else:
            raise ConfigurationError(f"{given} does not exist; give documents or folders of labelled documents")
    return list(dict.fromkeys(found))


def _is_document(path: Path) -> bool:
    return path.suffix.lower() in DOCUMENT_SUFFIXES


def _embedded_truth(path: Path) -> tuple[Any, str | None]:
    from invoiceai.render.pdf import read_embedded_invoice

    try:
        invoice = read_embedded_invoice(path.read_bytes(), name=path.name)
    except InvoiceAIError as exc:
        return None, f"its embedded e-invoice cannot be read ({type(exc).__name__}: {exc.message})"
    if invoice is None:
        return None, f"no label: it has no embedded e-invoice; write the truth to {path.with_suffix('.json').name}"
    return invoice, None
