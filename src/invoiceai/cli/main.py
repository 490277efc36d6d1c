"""Entry point: parses the command line and dispatches to one module per subcommand.

Data goes to stdout; progress and errors go to stderr. Exit codes: :data:`EXIT_OK` everything
succeeded, :data:`EXIT_FAILED` some input failed (the others are written: partial success),
:data:`EXIT_USAGE` a usage or configuration error found before any work started.

``invoiceai --help`` and ``--version`` must answer in well under 0.2 s, so nothing here, and
nothing at the top of a command module, imports pydantic, the extractor or a backend: every
command module imports what it needs inside its ``run``. A command module defines ``NAME``,
``HELP``, ``DESCRIPTION``, ``add_arguments(parser)`` and ``run(args) -> int``, and may define
``EPILOG`` (examples shown at the end of its ``--help``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn, TextIO

from invoiceai import __version__
from invoiceai.cli.hints import cli_message
from invoiceai.errors import ConfigurationError, InvoiceAIError

__all__ = ["COMMANDS", "EXIT_BROKEN_PIPE", "EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BROKEN_PIPE = 141
"""stdout's reader stopped reading (``| head``): 128 + SIGPIPE, what a shell reports for cat."""

COMMANDS = ("extract", "convert", "validate", "eval", "cache", "batch", "serve", "worker", "keys")
"""The subcommands in ``--help`` order; ``NAME`` is implemented by ``invoiceai.cli.NAME_cmd``."""

_EPILOG = """\
examples:
  invoiceai extract examples/sample-facturx.pdf       e-invoice: offline, free
  invoiceai extract inbox/ --format csv --out inv.csv  every invoice in a folder (needs ANTHROPIC_API_KEY for scans)
  invoiceai convert scan.jpg --to ubl --out inv.xml    any invoice to an EN 16931 e-invoice
  invoiceai validate results.json                      check what extract wrote

exit status: 0 all ok, 1 some input failed (the rest is written), 2 usage or configuration
error (nothing was done), 3 batch collect: the job is not finished, 141 the reader of the output
stopped (| head). 'invoiceai COMMAND --help' describes each command.
"""


class _Parser(argparse.ArgumentParser):
    """Reports a usage error in one line (``invoiceai extract: --pages: ...``), with where to look."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {cli_message(message)} (see '{self.prog} --help')\n")


class _Formatter(argparse.HelpFormatter):
    """Wraps prose paragraphs to the terminal and keeps indented ones (examples) line for line."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        filled = []
        for paragraph in text.strip("\n").split("\n\n"):
            lines = paragraph.splitlines()
            if any(line.startswith("  ") for line in lines):
                filled.append("\n".join(indent + line for line in lines))
            else:
                filled.append(super()._fill_text(paragraph, width, indent))
        return "\n\n".join(filled)


def _command(name: str) -> ModuleType:
    return importlib.import_module(f"invoiceai.cli.{name}_cmd")


def build_parser() -> argparse.ArgumentParser:
    """Returns the parser with every subcommand registered; no side effects, nothing heavy imported.

    The CLI reference in the docs is generated from this parser.
    """
    parser = _Parser(
        prog="invoiceai",
        description="Turn invoices (PDFs, scans, photos, e-invoices) into typed, validated data.",
        epilog=_EPILOG,
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"invoiceai {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        command = _command(name)
        sub = commands.add_parser(
            command.NAME,
            help=command.HELP,
            description=command.DESCRIPTION,
            epilog=getattr(command, "EPILOG", None),
            formatter_class=_Formatter,
            aliases=getattr(command, "ALIASES", ()),
        )
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
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    """Runs the parsed command; every error becomes one line on stderr and an exit status."""
    try:
        return int(args.run(args))
    except ConfigurationError as exc:
        print(f"invoiceai: {cli_message(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except InvoiceAIError as exc:
        print(f"invoiceai: {cli_message(exc)}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:
        # The reader of stdout went away (``| head``): stop quietly, as cat does.
        _discard_stdout()
        return EXIT_BROKEN_PIPE
    except OSError as exc:  # a file that vanished or a full disk mid-run: one line, not a traceback
        print(f"invoiceai: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("invoiceai: interrupted", file=sys.stderr)
        return 130


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """A library warning as one CLI line, without the Python source line Python shows by default."""
    print(f"invoiceai: warning: {cli_message(str(message))}", file=file or sys.stderr)


def _discard_stdout() -> None:
    """Points the process's stdout at /dev/null, so the flush at exit does not fail on the closed pipe again."""
    if sys.stdout is not sys.__stdout__ or sys.stdout is None:
        return  # captured (tests, an embedding program): not ours to redirect
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
