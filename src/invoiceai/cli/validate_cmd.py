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

if TYPE_CHECKING:
    from invoiceai.schema import Finding

__all__ = ["DESCRIPTION", "HELP", "NAME", "add_arguments", "run"]


NAME = "validate"
HELP = "check invoice JSON against the EN 16931 arithmetic rules, or e-invoice XML against the official rules"
DESCRIPTION = (
    "Read invoice JSON (as written by 'invoiceai extract') and print the findings. With --xml, read "
    "e-invoices (CII or UBL XML, or a Factur-X/ZUGFeRD PDF) and print what the official CEN EN 16931 "
    "rules report (needs the en16931 extra)."
)

# The SVRL locations spell every step's namespace out; for reading, the local names are enough.
_NAMESPACE_TEST = re.compile(r"\[namespace-uri\(\)='[^']*'\]")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``validate`` subcommand's arguments to its parser."""
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
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
        report = check(path)
        if "findings" in report:
            report["ok"] = not any(finding.severity in bad for finding in report["findings"])
        failed = failed or not report.get("ok", False)
        if fmt == "json":
            _print_json(report)
        else:
            _print_text(report)
    return 1 if failed else 0


def _check_json(path: Path) -> dict[str, Any]:
    from pydantic import ValidationError

    from invoiceai.schema import Invoice, validate

    try:
        invoice = Invoice.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        return {"file": str(path), "error": f"cannot read invoice JSON: {exc}".splitlines()[0]}
    return {"file": str(path), "findings": validate(invoice)}


def _check_xml(path: Path) -> dict[str, Any]:
    from invoiceai.einvoice import validate_xml
    from invoiceai.errors import InvoiceAIError, MissingDependencyError

    try:
        data = path.read_bytes()
        if data.startswith(b"%PDF"):
            data = _embedded_xml(data)
        findings = validate_xml(data)
    except MissingDependencyError:
        raise  # a setup problem, not this file's: main() reports it once, with exit code 2
    except OSError as exc:
        return {"file": str(path), "error": f"cannot read the file: {exc}"}
    except InvoiceAIError as exc:
        return {"file": str(path), "error": f"{type(exc).__name__}: {exc}"}
    return {"file": str(path), "findings": findings}


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
