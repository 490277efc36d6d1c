"""Entry point: parses the command line and dispatches to one module per subcommand.

Data goes to stdout; progress and errors go to stderr. Exit codes: 0 all ok, 1 some input
failed, 2 usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from invoiceai import __version__
from invoiceai.cli import batch_cmd, cache_cmd, convert_cmd, extract_cmd, keys_cmd, serve_cmd, validate_cmd
from invoiceai.errors import ConfigurationError, InvoiceAIError

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    """Returns the parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="invoiceai",
        description="Turn invoices (PDFs, scans, photos, e-invoices) into typed, validated data.",
    )
    parser.add_argument("--version", action="version", version=f"invoiceai {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (extract_cmd, convert_cmd, validate_cmd, cache_cmd, batch_cmd, serve_cmd, keys_cmd):
        sub = commands.add_parser(command.NAME, help=command.HELP, description=command.DESCRIPTION)
        command.add_arguments(sub)
        sub.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line and returns its exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors and 0 on --help
        return int(exc.code or 0)
    try:
        return int(args.run(args))
    except ConfigurationError as exc:
        print(f"invoiceai: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except InvoiceAIError as exc:
        print(f"invoiceai: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("invoiceai: interrupted", file=sys.stderr)
        return 130
