"""Checks e-invoice XML against the official CEN EN 16931 rules, with the official rule ids.

CEN/TC 434 publishes the EN 16931 business rules as Schematron, compiled to XSLT 2.0, one
stylesheet for CII and one for UBL. They ship with invoiceai, unmodified, under ``cen_rules/``
(EUPL-1.2, see the README there); running them needs an XSLT 2.0 processor, saxonche, which is
the optional ``en16931`` extra. Nothing is downloaded at run time.

The XML is untrusted: it is parsed by :func:`~invoiceai.einvoice.safe_xml.parse_xml` first (no
DTD, no entities, libxml2's size limits), and Saxon is handed that tree re-serialised, so it
never sees a document type declaration or an entity to resolve.
"""

from __future__ import annotations

import importlib
import re
import threading
from importlib import resources
from typing import TYPE_CHECKING, Any

from invoiceai.errors import EInvoiceError, MissingDependencyError, UnsupportedFormatError
from invoiceai.schema.findings import Finding, Severity

if TYPE_CHECKING:
    from lxml import etree

__all__ = ["EN16931_RULES_RELEASE", "RULE_SETS", "validate_xml"]

EN16931_RULES_RELEASE = "1.3.16"
"""The release of the CEN validation artefacts that ship with invoiceai (``cen_rules/VERSION``)."""

RULE_SETS = ("en16931",)
"""Rule sets :func:`validate_xml` knows: the CEN EN 16931 core rules."""

_STYLESHEETS = {"cii": "cii/EN16931-CII-validation.xslt", "ubl": "ubl/EN16931-UBL-validation.xslt"}
_SVRL = "{http://purl.oclc.org/dsdl/svrl}"
# SVRL flags as the CEN rules use them (fatal, warning), and the usual others just in case.
_SEVERITIES: dict[str, Severity] = {"fatal": "error", "error": "error", "warning": "warning", "information": "info"}
_EXTRA_HINT = 'pip install "invoiceai-claude[en16931]"'

# One Saxon processor and one compiled stylesheet per syntax for the whole process: compiling
# takes about a second, a run about 10 ms. Every Saxon call runs under this one lock. saxonche
# documents no thread safety for a PyXsltExecutable, which carries per-run state (parameters,
# properties, the last error), and the extension holds the GIL while it transforms, so
# serialising the runs costs no parallelism and rules out interleaved state. One executable per
# thread would cost a second and tens of megabytes per thread for nothing.
_LOCK = threading.Lock()
_SAXON: dict[str, Any] = {}


def validate_xml(xml: bytes, rules: str = "en16931") -> list[Finding]:
    """Runs the official CEN EN 16931 rules on an e-invoice and returns what they report.

    The rules are the CEN/TC 434 Schematron, release :data:`EN16931_RULES_RELEASE`, for CII D16B
    (Factur-X, ZUGFeRD 2, XRechnung CII) and UBL 2.1 ``Invoice`` and ``CreditNote``, chosen from
    the root element. Each finding carries the official rule id (``BR-CO-13``, ``BR-S-08``,
    ``CII-SR-001``, ...), ``error`` for a fatal assertion and ``warning`` for a warning, the rule's
    message, and in ``fields`` the XPath of the element it is about, as the SVRL report gives it.

    Only XML: for a Factur-X or ZUGFeRD PDF, take the XML out first with
    :func:`invoiceai.render.pdf.find_embedded_invoice`.

    Args:
        xml: The e-invoice XML. Untrusted input is fine: it is parsed safely before Saxon sees it.
        rules: The rule set; only ``"en16931"`` (the CEN core rules) for now.

    Returns:
        The findings in the order the rules report them; empty when the invoice passes.

    Raises:
        MissingDependencyError: saxonche is not installed (the ``en16931`` extra).
        HostileXMLError: The XML declares a DTD (XXE, entity expansion).
        CorruptDocumentError: The bytes are not well-formed XML, or exceed the parser's limits.
        UnsupportedFormatError: ZUGFeRD 1.0 or FatturaPA, which the CEN rules do not cover.
        NotAnInvoiceError: XML that is not an invoice (an order, ...).
        EInvoiceError: ``rules`` names no rule set we ship, or Saxon failed on the document.
    """
    from lxml import etree

    from invoiceai.einvoice.safe_xml import parse_xml
    from invoiceai.einvoice.syntax import detect_syntax

    if rules not in RULE_SETS:
        raise EInvoiceError(f"Unknown rule set {rules!r}; choose one of {', '.join(RULE_SETS)}.")
    root = parse_xml(xml)
    syntax = detect_syntax(root)
    if syntax == "zugferd1":
        raise UnsupportedFormatError(
            "This is a ZUGFeRD 1.0 invoice, which predates EN 16931; the official rules cover CII D16B "
            "(Factur-X, ZUGFeRD 2, XRechnung) and UBL 2.1."
        )
    report = _run(syntax, etree.tostring(root, encoding="unicode"))
    return _findings(report)


def _run(syntax: str, text: str) -> etree._Element:
    from lxml import etree

    saxon = _saxon_module()
    with _LOCK:
        executable = _executable(saxon, syntax)
        try:
            node = _SAXON["processor"].parse_xml(xml_text=text)
            svrl = executable.transform_to_string(xdm_node=node)
        except saxon.PySaxonApiError as exc:
            raise EInvoiceError(
                f"The official EN 16931 rules could not run on this XML (Saxon: {exc}). The XML parsed "
                "as an invoice, so this is most likely a bug: please report it with the file."
            ) from exc
    if not svrl:
        raise EInvoiceError("The official EN 16931 rules returned no report for this XML; please report it.")
    # Our own stylesheet's output, not the caller's input; parsed with the same closed parser settings.
    return etree.fromstring(svrl.encode("utf-8"), etree.XMLParser(resolve_entities=False, no_network=True))


def _saxon_module() -> Any:
    try:
        # Imported by name: saxonche ships no type information, and it stays optional.
        return importlib.import_module("saxonche")
    except ImportError as exc:
        raise MissingDependencyError(
            f"Checking with the official EN 16931 rules needs saxonche: {_EXTRA_HINT}.", extra="en16931"
        ) from exc


def _executable(saxon: Any, syntax: str) -> Any:
    # Called with _LOCK held.
    if "processor" not in _SAXON:
        _SAXON["processor"] = saxon.PySaxonProcessor(license=False)
    if syntax not in _SAXON:
        stylesheet = resources.files("invoiceai.einvoice") / "cen_rules" / _STYLESHEETS[syntax]
        with resources.as_file(stylesheet) as path:
            compiler = _SAXON["processor"].new_xslt30_processor()
            try:
                _SAXON[syntax] = compiler.compile_stylesheet(stylesheet_file=str(path))
            except saxon.PySaxonApiError as exc:
                raise EInvoiceError(
                    f"The shipped EN 16931 stylesheet {_STYLESHEETS[syntax]} did not compile (Saxon: {exc}); "
                    "the installation may be damaged: reinstall invoiceai."
                ) from exc
    return _SAXON[syntax]


def _findings(report: etree._Element) -> list[Finding]:
    findings: list[Finding] = []
    for element in report.iter(f"{_SVRL}failed-assert", f"{_SVRL}successful-report"):
        rule = element.get("id") or "EN16931"
        message_element = element.find(f"{_SVRL}text")
        text = " ".join(str(message_element.xpath("string()")).split()) if message_element is not None else ""
        # The CEN messages repeat their id: "[BR-CO-13]-Invoice total amount without VAT ...".
        message = re.sub(rf"^\[{re.escape(rule)}\]\s*-?\s*", "", text) or f"Rule {rule} failed."
        location = element.get("location")
        findings.append(
            Finding(
                rule=rule,
                severity=_SEVERITIES.get((element.get("flag") or "fatal").lower(), "error"),
                message=message,
                fields=(location,) if location else (),
            )
        )
    return findings
