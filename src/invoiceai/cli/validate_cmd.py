"""``invoiceai validate FILE...``: check invoice JSON against the EN 16931 rules.

With ``--xml``, the files are e-invoices (CII or UBL XML, or a Factur-X / ZUGFeRD PDF carrying
one) checked with the official CEN rules (:func:`invoiceai.einvoice.validate_xml`).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoiceai.cli.inputs import existing_file

if TYPE_CHECKING:
    from invoiceai.schema import Finding

__all__ = ["DESCRIPTION", "EPILOG", "HELP", "NAME", "REQUIRED", "add_arguments", "run"]


NAME = "validate"
HELP = "check invoice JSON against the EN 16931 arithmetic rules, or e-invoice XML against the official rules"
DESCRIPTION = (
    "Read invoice JSON and print the findings: what 'invoiceai extract' writes (a JSON array or JSON "
    "Lines of results, checking each result's data) or invoice JSON in the Invoice shape. A value that "
    'cannot be read (a total of "abc") and a missing invoice number, issue date, currency, seller '
    "name or total are errors. With --xml, read e-invoices (CII or UBL XML, or a Factur-X/ZUGFeRD "
    "PDF) and print what the official CEN EN 16931 rules report (needs the en16931 extra)."
)
EPILOG = """\
examples:
  invoiceai extract scans/ --out results.json && invoiceai validate results.json
  invoiceai validate invoice.json --strict              warnings fail too
  invoiceai validate --xml invoice.xml facturx.pdf      the official CEN rules

exit status: 0 every invoice passes; 1 an invoice has an error (--strict: or a warning) or
cannot be read; 2 usage error, or --xml without the en16931 extra.
"""

REQUIRED = (
    ("invoice_number", "BT-1"),
    ("issue_date", "BT-2"),
    ("currency", "BT-5"),
    ("seller.name", "BT-27"),
    ("total", "BT-112"),
)
"""The values an invoice JSON must have to pass (EN 16931 makes them mandatory; the rest it asks
for, such as the buyer's address, are checked by ``convert`` and by ``--xml``)."""

# The SVRL locations spell every step's namespace out; for reading, the local names are enough.
_NAMESPACE_TEST = re.compile(r"\[namespace-uri\(\)='[^']*'\]")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``validate`` subcommand's arguments to its parser."""
    parser.add_argument(
        "files", nargs="+", type=existing_file, metavar="FILE", help="JSON, JSON Lines or (--xml) e-invoice files"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 on warnings too, not only errors")
    parser.add_argument(
        "--xml",
        action="store_true",
        help="the files are e-invoices (CII or UBL XML, or a PDF carrying one): check them with the official "
        "CEN EN 16931 rules (needs the en16931 extra)",
    )
    parser.add_argument(
        "--format",
        choices=("text", "json"),
        default=None,
        help="text: one line per finding; json: one JSON report per file and line "
        "(default: json for invoice JSON, text with --xml)",
    )


def run(args: argparse.Namespace) -> int:
    """Validates each file and prints one report per file; returns the exit code."""
    check = _check_xml if args.xml else _check_json
    fmt = args.format or ("text" if args.xml else "json")
    bad = {"error", "warning"} if args.strict else {"error"}
    failed = False
    for path in args.files:
        for report in check(path):
            if "findings" in report:
                report["ok"] = not any(finding.severity in bad for finding in report["findings"])
            failed = failed or not report.get("ok", False)
            if fmt == "json":
                _print_json(report)
            else:
                _print_text(report)
    return 1 if failed else 0


def _check_json(path: Path) -> list[dict[str, Any]]:
    """One report per invoice in ``path``.

    The file holds what ``extract`` writes (a JSON array or JSON Lines of results), one result, or
    invoice JSON (one object, or an array or JSON Lines of them).
    """
    try:
        data = path.read_bytes()
        # A byte order mark (UTF-8, as Windows tools write it, or UTF-16/32) names the encoding.
        elements = _json_elements(data.decode(json.detect_encoding(data)).removeprefix("\ufeff"))
    except OSError as exc:
        return [{"file": str(path), "error": f"cannot read the file: {exc}"}]
    except UnicodeDecodeError as exc:  # a PDF, say: binary where JSON text was expected
        return [{"file": str(path), "error": f"cannot read the file: {exc}{_xml_hint(data)}"}]
    except RecursionError:
        return [{"file": str(path), "error": "not invoice JSON: it is nested too deeply to read"}]
    except ValueError as exc:
        return [{"file": str(path), "error": f"not JSON, JSON Lines or a JSON array: {exc}{_xml_hint(data)}"}]
    if not elements:
        return [{"file": str(path), "error": "no invoice in the file (an empty array or file)"}]
    single = len(elements) == 1
    return [_check_element(str(path) if single else f"{path}[{index}]", element) for index, element in elements]


def _json_elements(text: str) -> list[tuple[int, Any]]:
    """The file's elements with their positions: an array's items, JSON Lines' lines, or the one value."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg != "Extra data":  # more than one value: JSON Lines, read line by line below
            raise ValueError(f"{exc.msg} at line {exc.lineno}, column {exc.colno}") from None
        lines = [(number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
        elements = []
        for number, line in lines:
            try:
                elements.append((number - 1, json.loads(line)))
            except json.JSONDecodeError as error:
                raise ValueError(f"line {number}: {error.msg} at column {error.colno}") from None
        return elements
    return list(enumerate(value)) if isinstance(value, list) else [(0, value)]


def _check_element(name: str, element: Any) -> dict[str, Any]:
    from pydantic import ValidationError

    from invoiceai.schema import Invoice, validate

    if not isinstance(element, dict):
        return {"file": name, "error": f"an invoice is a JSON object, not {type(element).__name__}"}
    report: dict[str, Any] = {"file": name}
    if isinstance(element.get("source"), str):
        report["source"] = element["source"]
    if "error" in element and "data" not in element:  # a failed extraction, as extract writes it
        error = element["error"] if isinstance(element["error"], dict) else {"message": element["error"]}
        return {**report, "error": f"the extraction failed: {error.get('type', 'error')}: {error.get('message')}"}
    data = element["data"] if isinstance(element.get("data"), dict) else element
    try:
        invoice = Invoice.model_validate(data)
    except RecursionError:
        return {**report, "error": "not invoice JSON: it is nested too deeply to read"}
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in exc.errors())
        return {**report, "error": f"not invoice JSON: {problems}"}
    return {**report, "findings": [*map(_unreadable_is_error, validate(invoice)), *_missing(invoice)]}


def _unreadable_is_error(finding: Finding) -> Finding:
    # Normalisation drops a value it cannot read (a total of "abc") and warns; in a file handed to
    # validate, that value is simply wrong: an error, not ok.
    return finding.model_copy(update={"severity": "error"}) if finding.rule == "IAI-NORMALIZE" else finding


def _missing(invoice: Any) -> list[Finding]:
    from invoiceai.schema import Finding

    findings = []
    for path, term in REQUIRED:
        value: Any = invoice
        for part in path.split("."):
            value = getattr(value, part, None)
        if value is None or value == "":
            message = f"{path} ({term}) is missing; an invoice needs it."
            findings.append(Finding(rule="IAI-REQUIRED", severity="error", message=message, fields=(path,)))
    return findings


def _xml_hint(data: bytes) -> str:
    """A hint when a file given as JSON is an e-invoice: validate reads XML only with --xml."""
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith((b"<", b"%PDF")):
        return " (it looks like XML or a PDF: pass --xml to check an e-invoice against the official rules)"
    return ""


def _check_xml(path: Path) -> list[dict[str, Any]]:
    return [_check_xml_file(path)]


def _check_xml_file(path: Path) -> dict[str, Any]:
    from invoiceai.einvoice import validate_xml
    from invoiceai.errors import InvoiceAIError, MissingDependencyError

    try:
        data = _xml_of(path)
        findings = validate_xml(data)
    except MissingDependencyError:
        raise  # a setup problem, not this file's: main() reports it once, with exit code 2
    except OSError as exc:
        return {"file": str(path), "error": f"cannot read the file: {exc}"}
    except InvoiceAIError as exc:
        return {"file": str(path), "error": f"{type(exc).__name__}: {exc}"}
    return {"file": str(path), "findings": findings}


def _xml_of(path: Path) -> bytes:
    """The e-invoice XML in ``path``: the file itself, or the XML a PDF carries.

    Loaded as ``extract`` loads a file (size cap, type from the bytes), so an image or an empty
    file is named as such rather than reported as malformed XML.
    """
    from invoiceai.documents import load_document
    from invoiceai.errors import NotAnInvoiceError, UnsupportedFormatError

    try:
        document = load_document(path)
    except UnsupportedFormatError:
        return path.read_bytes()  # text of no known format: the XML parser says where it breaks
    if document.is_pdf:
        return _embedded_xml(document.data)
    if not document.is_xml:
        raise NotAnInvoiceError(
            f"{path.name} is {document.media_type}, not an e-invoice; --xml checks CII or UBL XML and "
            "Factur-X/ZUGFeRD PDFs. To read an image, run 'invoiceai extract' on it."
        )
    return document.data


def _embedded_xml(pdf: bytes) -> bytes:
    from invoiceai.errors import NotAnInvoiceError
    from invoiceai.render.pdf import find_embedded_invoice

    embedded = find_embedded_invoice(pdf)
    if embedded is None:
        raise NotAnInvoiceError("This PDF carries no e-invoice XML; --xml checks Factur-X, ZUGFeRD or XML files.")
    return embedded.data


def _print_json(report: dict[str, Any]) -> None:
    findings: list[Finding] | None = report.get("findings")
    if findings is not None:
        # The findings also go to stderr, where a person sees them when stdout is redirected.
        for finding in findings:
            print(f"{report['file']}: {finding}", file=sys.stderr)
        report = {**report, "findings": [finding.model_dump(mode="json") for finding in findings]}
    print(json.dumps(report, ensure_ascii=False))


def _print_text(report: dict[str, Any]) -> None:
    if "error" in report:
        print(f"{report['file']}: cannot check: {report['error']}")
        return
    findings: list[Finding] = report["findings"]
    counts = {severity: sum(f.severity == severity for f in findings) for severity in ("error", "warning", "info")}
    summary = ", ".join(f"{count} {name}{'s' if count != 1 else ''}" for name, count in counts.items() if count)
    print(f"{report['file']}: {'ok' if report['ok'] else 'FAILED'}" + (f" ({summary})" if summary else ""))
    for finding in findings:
        where = "".join(f" at {_NAMESPACE_TEST.sub('', field)}" for field in finding.fields)
        print(f"  [{finding.severity}] {finding.rule}: {finding.message}{where}")
