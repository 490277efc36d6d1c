"""``invoiceai validate FILE...``: check invoice JSON against the EN 16931 rules."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["DESCRIPTION", "HELP", "NAME", "add_arguments", "run"]


NAME = "validate"
HELP = "check invoice JSON files against the EN 16931 arithmetic rules"
DESCRIPTION = "Read invoice JSON (as written by 'invoiceai extract') and print the findings."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``validate`` subcommand's arguments to its parser."""
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.add_argument("--strict", action="store_true", help="exit 1 on warnings too, not only errors")


def run(args: argparse.Namespace) -> int:
    """Validates each file and prints one JSON report per file; returns the exit code."""
    from pydantic import ValidationError

    from invoiceai.schema import Invoice, validate

    failed = False
    for path in args.files:
        report: dict[str, Any] = {"file": str(path)}
        try:
            invoice = Invoice.model_validate_json(path.read_bytes())
        except (OSError, ValidationError) as exc:
            report["error"] = f"cannot read invoice JSON: {exc}".splitlines()[0]
            failed = True
        else:
            findings = validate(invoice)
            report["findings"] = [finding.model_dump(mode="json") for finding in findings]
            bad = {"error", "warning"} if args.strict else {"error"}
            report["ok"] = not any(finding.severity in bad for finding in findings)
            failed = failed or not report["ok"]
            for finding in findings:
                print(f"{path}: {finding}", file=sys.stderr)
        print(json.dumps(report, ensure_ascii=False))
    return 1 if failed else 0
