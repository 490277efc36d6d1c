"""``invoiceai extract FILES...``: extract invoices to JSON, JSON Lines or CSV."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from contextlib import ExitStack
from typing import Any, TextIO

from invoiceai.cli.inputs import (
    expand_inputs,
    is_url,
    output_path,
    page_selection,
    refuse_overwriting_inputs,
    require_api_key,
    shown_source,
)
from invoiceai.cli.output import CSV_ESCAPE_HELP, FORMATS, OutputFile, ResultWriter
from invoiceai.cli.report import Tally, exit_status, print_failures
from invoiceai.config import DEFAULT_MODEL, DETAILS, Settings

__all__ = ["DESCRIPTION", "EPILOG", "HELP", "NAME", "add_arguments", "run"]


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


NAME = "extract"
HELP = "extract invoices (PDF, image, e-invoice XML) to JSON, JSON Lines or CSV"
DESCRIPTION = (
    "Extract each FILE (a path, a directory of invoices or an http(s) URL) into typed invoice data. "
    "E-invoices (Factur-X, ZUGFeRD, XRechnung, CII, UBL) are read from their XML without a model "
    "call; everything else is read by Claude and needs ANTHROPIC_API_KEY. Data goes to stdout (or "
    "--out); progress, errors and a summary line to stderr. --dry-run prints what each file would "
    "send and cost instead, sending nothing to the model."
)
EPILOG = """\
examples:
  invoiceai extract examples/sample-facturx.pdf                 e-invoice: offline, free
  invoiceai extract scans/ --format csv --out invoices.csv      every invoice in a folder
  invoiceai extract archive/ --recursive --format jsonl         ... and in its subfolders
  invoiceai extract scan.pdf --pages 1-2 --password PW          part of an encrypted PDF
  invoiceai extract scans/ --dry-run                            pages, tokens and cost; sends nothing

exit status: 0 all ok; 1 some files failed (the others are written); 2 usage or configuration
error, nothing done (a missing file, --out in a missing directory, no ANTHROPIC_API_KEY while a
file needs the model); 130 interrupted (Ctrl-C: the results so far are written).

--out is written to a temporary file that replaces PATH at the end: an interrupted run leaves the
results so far (a complete JSON array, the CSV rows so far), and a run that wrote nothing leaves
an existing PATH as it was. CSV cells that a spreadsheet would run as a formula get a leading '.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``extract`` subcommand's arguments to its parser."""
    parser.add_argument("files", nargs="+", metavar="FILE", help="paths, directories or http(s) URLs")
    parser.add_argument(
        "--recursive", action="store_true", help="a directory also means the invoices in its subdirectories"
    )
    parser.add_argument("--model", help=f"Claude model id (default: INVOICEAI_MODEL or {DEFAULT_MODEL})")
    parser.add_argument(
        "--format",
        choices=FORMATS,
        help="json: one array; jsonl: one result per line; csv: one row per line item; csv-tax: one row per "
        "tax line (default: json; with --dry-run, a table)",
    )
    parser.add_argument("--out", type=output_path, metavar="PATH", help="write the data here (default: stdout)")
    parser.add_argument(
        "--concurrency",
        type=_positive,
        metavar="N",
        help=f"requests in flight at once (default: INVOICEAI_CONCURRENCY or {Settings.concurrency})",
    )
    parser.add_argument(
        "--cache",
        metavar="SPEC",
        default="sqlite",
        help="result cache: 'sqlite' (default, in INVOICEAI_CACHE_DIR), 'memory', a file path or a redis:// URL",
    )
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the result cache")
    parser.add_argument(
        "--pages", type=page_selection, metavar="SEL", help='pages to read, e.g. "1-3,7" or "2-" (default: all)'
    )
    parser.add_argument("--password", metavar="PW", help="password for encrypted PDFs (visible in the process list)")
    parser.add_argument(
        "--mode",
        choices=("images", "images+text", "text", "pdf"),
        help="what is sent to Claude (default: images)",
    )
    parser.add_argument("--no-embedded", action="store_true", help="ignore embedded e-invoice XML; use the model")
    parser.add_argument(
        "--cross-check", action="store_true", help="also read e-invoice PDFs visually and report disagreements"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress line and no summary line")
    parser.add_argument("--no-csv-escape", action="store_true", help=CSV_ESCAPE_HELP)
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
    from invoiceai.extractor import Extractor

    inputs = expand_inputs(args.files, recursive=args.recursive)
    refuse_overwriting_inputs(args.out, inputs)
    if not args.dry_run or args.count_tokens:
        # --cross-check reads e-invoice PDFs visually too: then they need the model as well.
        embedded = not (args.no_embedded or args.cross_check)
        require_api_key(inputs, prefer_embedded=embedded, password=args.password)
    extractor = Extractor(
        model=args.model,
        cache=None if args.no_cache else args.cache,
        concurrency=args.concurrency,
        mode=args.mode,
        prefer_embedded=not args.no_embedded,
        cross_check=args.cross_check,
    )
    output = OutputFile(args.out)
    with extractor, ExitStack() as stack:
        stream = stack.enter_context(output)
        if args.dry_run or args.count_tokens:
            code = _dry_run(extractor, inputs, args, stream)
            output.commit()
            return code
        tally, failures, interrupted = _extract(extractor, inputs, args, stream, stack, output)
    print_failures(failures)
    if not args.quiet:
        print(_summary(tally.line(), extractor.backend), file=sys.stderr)
    if interrupted:
        print(f"invoiceai: interrupted after {tally.documents} of {len(inputs)} documents", file=sys.stderr)
        return 130
    return exit_status(failures, tally.documents)


def _summary(line: str, backend: Any) -> str:
    """The tally's summary line, and what the backend's pacing did when any request waited."""
    from invoiceai.cli.progress import pacing_summary

    pacing = getattr(backend, "pacing", None)
    part = pacing_summary(pacing.snapshot()) if pacing is not None else None
    return f"{line}; {part}" if part else line


def _extract(
    extractor: Any, inputs: list[str], args: argparse.Namespace, stream: TextIO, stack: ExitStack, output: OutputFile
) -> tuple[Tally, list[Any], bool]:
    """Extracts ``inputs`` in order, writing each result; returns the tally, the failures, and whether interrupted.

    Ctrl-C ends the output as a finished run would (the JSON array closed, the CSV rows so far),
    so what was paid for is kept; the extractor, closed by the caller, lets requests in flight end.
    """
    from invoiceai.cli.progress import CliProgress
    from invoiceai.extractor.batch import in_order

    progress = None
    if not args.quiet and sys.stderr.isatty():
        progress = stack.enter_context(CliProgress(len(inputs), sys.stderr))
        pacing = getattr(extractor.backend, "pacing", None)
        if pacing is not None:  # waits show on the line: "waiting 8 s: rate limited"
            stack.callback(pacing.subscribe(progress.wait))
    writer = ResultWriter(stream, args.format or "json", escape_formulas=not args.no_csv_escape)
    items = extractor.iter_extract(
        inputs, pages=args.pages, password=args.password, progress=progress or False, detail=args.detail
    )
    tally, failures = Tally(), []
    interrupted = False
    try:
        for given, result in zip(inputs, in_order(items), strict=True):
            if is_url(given):  # the library names a URL by its file name; show where it came from
                result = dataclasses.replace(result, source=shown_source(given))
            writer.write(result)
            tally.add(result)
            if not result.ok:
                failures.append(result)
                if progress is not None:
                    progress.failed()
    except KeyboardInterrupt:
        interrupted = True
        stop = getattr(items, "close", None)
        if stop is not None:  # stops the batch now: nothing new starts, requests in flight finish
            stop()
    writer.close()
    if writer.written:
        output.commit()
    return tally, failures, interrupted


def _dry_run(extractor: Any, inputs: list[str], args: argparse.Namespace, stream: TextIO) -> int:
    """Prints what extracting the files would send and cost; nothing goes to the Messages API."""
    from invoiceai.cli.dry_run import write_estimates

    estimates = extractor.estimate(
        inputs, pages=args.pages, password=args.password, detail=args.detail, count_tokens=args.count_tokens
    )
    write_estimates(estimates, stream, args.format)
    failures = [estimate for estimate in estimates if estimate.error is not None]
    print_failures(failures)
    return exit_status(failures, len(estimates))
