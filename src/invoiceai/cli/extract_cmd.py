"""``invoiceai extract FILES...``: extract invoices to JSON, JSON Lines or CSV."""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TextIO

from invoiceai.cli.output import FORMATS, ResultWriter
from invoiceai.config import DETAILS
from invoiceai.errors import ConfigurationError

__all__ = ["DESCRIPTION", "HELP", "NAME", "add_arguments", "run"]


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


NAME = "extract"
HELP = "extract invoices (PDF, image, e-invoice XML) to JSON, JSON Lines or CSV"
DESCRIPTION = (
    "Extract each FILE (path or http(s) URL) into typed invoice data. E-invoices (Factur-X, "
    "ZUGFeRD, XRechnung, CII, UBL) are read from their XML without a model call; everything "
    "else is read by Claude and needs ANTHROPIC_API_KEY. Data goes to stdout (or --out), "
    "progress and errors to stderr. Exit status: 0 all ok, 1 some failed, 2 usage error. "
    "--dry-run prints what each file would send and cost instead, sending nothing to the model."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``extract`` subcommand's arguments to its parser."""
    parser.add_argument("files", nargs="+", metavar="FILE", help="paths or http(s) URLs")
    parser.add_argument("--model", help="Claude model id (default: INVOICEAI_MODEL or the built-in default)")
    parser.add_argument("--format", choices=FORMATS, help="output format (default: json; with --dry-run, a table)")
    parser.add_argument("--out", type=Path, metavar="PATH", help="write the data here instead of stdout")
    parser.add_argument("--concurrency", type=_positive, metavar="N", help="documents at once")
    parser.add_argument(
        "--cache",
        metavar="SPEC",
        default="sqlite",
        help="result cache: 'sqlite' (default, in INVOICEAI_CACHE_DIR), 'memory', a file path or a redis:// URL",
    )
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the result cache")
    parser.add_argument("--pages", metavar="SEL", help='pages to read, e.g. "1-3,7" (default: all)')
    parser.add_argument("--password", help="password for encrypted PDFs (visible in the process list)")
    parser.add_argument(
        "--mode",
        choices=("images", "images+text", "text", "pdf"),
        help="what is sent to Claude (default: images)",
    )
    parser.add_argument("--no-embedded", action="store_true", help="ignore embedded e-invoice XML; use the model")
    parser.add_argument(
        "--cross-check", action="store_true", help="also read e-invoice PDFs visually and report disagreements"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--detail",
        choices=DETAILS,
        help="image size sent: standard (default, 1568 px) or high (the model's larger budget, ~3x the tokens)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="load, render and build the requests, then print pages, requests, tokens and cost; send nothing",
    )
    parser.add_argument(
        "--count-tokens",
        action="store_true",
        help="with --dry-run: count input tokens with the API's free token counter (needs ANTHROPIC_API_KEY)",
    )


def run(args: argparse.Namespace) -> int:
    """Extracts every file, writing each result as soon as those before it are written.

    Returns:
        The exit code.
    """
    from invoiceai.extractor import ExtractionFailure, Extractor
    from invoiceai.extractor.batch import in_order

    extractor = Extractor(
        model=args.model,
        cache=None if args.no_cache else args.cache,
        concurrency=args.concurrency,
        mode=args.mode,
        prefer_embedded=not args.no_embedded,
        cross_check=args.cross_check,
    )
    failures: list[Any] = []
    with extractor, ExitStack() as stack:
        stream: TextIO = sys.stdout
        if args.out is not None:
            stream = stack.enter_context(args.out.open("w", encoding="utf-8", newline=""))
        if args.dry_run or args.count_tokens:
            return _dry_run(extractor, args, stream)
        writer = ResultWriter(stream, args.format or "json")
        items = extractor.iter_extract(
            args.files, pages=args.pages, password=args.password, progress=False if args.quiet else None,
            detail=args.detail,
        )  # fmt: skip
        for result in in_order(items):
            writer.write(result)
            if isinstance(result, ExtractionFailure):
                failures.append(result)
        writer.close()
    return _report(failures)


def _dry_run(extractor: Any, args: argparse.Namespace, stream: TextIO) -> int:
    """Prints what extracting the files would send and cost; nothing goes to the Messages API."""
    from invoiceai.cli.dry_run import write_estimates

    estimates = extractor.estimate(
        args.files, pages=args.pages, password=args.password, detail=args.detail, count_tokens=args.count_tokens
    )
    write_estimates(estimates, stream, args.format)
    return _report([estimate for estimate in estimates if estimate.error is not None])


def _report(failures: list[Any]) -> int:
    """Prints the failures to stderr (a configuration problem once) and returns the exit code."""
    configuration = {f.error.message for f in failures if isinstance(f.error, ConfigurationError)}
    for message in sorted(configuration):
        print(f"invoiceai: {message}", file=sys.stderr)
    for failure in failures:
        if not isinstance(failure.error, ConfigurationError):
            print(f"invoiceai: {failure.source}: {type(failure.error).__name__}: {failure.error}", file=sys.stderr)
    if configuration:
        return 2
    return 1 if failures else 0
