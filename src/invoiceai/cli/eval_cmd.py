"""``invoiceai eval PATHS...``: measure extraction on labelled documents, settings side by side."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from invoiceai.cli.inputs import output_path, refuse_overwriting_inputs
from invoiceai.config import DEFAULT_MODEL, DETAILS

__all__ = ["DESCRIPTION", "EPILOG", "HELP", "NAME", "add_arguments", "run"]

NAME = "eval"
HELP = "measure extraction accuracy on labelled documents; compare models and settings"
DESCRIPTION = (
    "Extract every labelled document with the model and compare the result with its label: "
    "per-field accuracy (money to the cent, dates exact, text normalised), line-item precision, "
    "recall and F1 (rows paired by content, not order), documents fully correct, review rate, "
    "wrong values NOT flagged for review, cost and latency per document. A document's label is "
    "<name>.json next to it (an Invoice as JSON, or one result of 'invoiceai extract --format "
    "jsonl'); an e-invoice PDF without one is its own label (its embedded XML is the truth and its "
    "pages are read by the model). Needs ANTHROPIC_API_KEY."
)
EPILOG = """\
examples:
  invoiceai eval labelled/                                      table in the terminal
  invoiceai eval labelled/ --models claude-sonnet-5,claude-haiku-4-5 --detail standard,high
  invoiceai eval einvoices/ --format json --out eval.json --html eval.html
  invoiceai eval labelled/ --fields 'total,issue_date,line_items.*'

exit status: 0 evaluated; 1 some documents failed to extract, or --fail-under was not met;
2 usage or configuration error (no labelled documents, a malformed label), nothing spent.
"""


def _csv(text: str) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise argparse.ArgumentTypeError("give one or more comma-separated values")
    return items


def _details(text: str) -> list[str]:
    items = _csv(text)
    unknown = [item for item in items if item not in DETAILS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown detail {unknown[0]!r}: use {' or '.join(DETAILS)}")
    return items


def _percent(text: str) -> float:
    value = float(text.removesuffix("%"))
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError("must be a percentage between 0 and 100")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``eval`` subcommand's arguments to its parser."""
    parser.add_argument("paths", nargs="+", metavar="PATH", help="labelled documents, or folders of them")
    parser.add_argument("--recursive", action="store_true", help="also look in subfolders")
    parser.add_argument(
        "--models", type=_csv, metavar="A,B", help=f"models to compare (default: INVOICEAI_MODEL or {DEFAULT_MODEL})"
    )
    parser.add_argument("--detail", type=_details, metavar="D,D", help="image detail(s) to compare: standard, high")
    parser.add_argument(
        "--mode", choices=("images", "images+text", "text", "pdf"), help="what is sent to Claude (default: images)"
    )
    parser.add_argument(
        "--format", choices=("table", "json"), default="table", help="what goes to stdout or --out (default: table)"
    )
    parser.add_argument("--out", type=output_path, metavar="PATH", help="write the report here (default: stdout)")
    parser.add_argument("--html", type=output_path, metavar="PATH", help="also write a self-contained HTML report")
    parser.add_argument(
        "--fields", type=_csv, metavar="P,P", help="compare only these fields (patterns: total, seller.*, line_items.*)"
    )
    parser.add_argument(
        "--review", choices=("strict", "lenient"), default="strict", help="review policy (default: strict)"
    )
    parser.add_argument("--concurrency", type=int, metavar="N", help="requests in flight at once")
    parser.add_argument(
        "--cache",
        metavar="SPEC",
        help="re-use cached results ('sqlite', 'memory', a path, a redis:// URL); default none, so cost and "
        "latency are measured",
    )
    parser.add_argument(
        "--fail-under", type=_percent, metavar="PCT", help="exit 1 when a setting's value accuracy is below PCT"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress line")


def run(args: argparse.Namespace) -> int:
    """Loads the labels, runs every setting and writes the report.

    Returns:
        The exit code.
    """
    from invoiceai.evaluation import evaluate, load_dataset, settings_grid
    from invoiceai.provenance import ReviewPolicy

    dataset = load_dataset(args.paths, recursive=args.recursive)  # every label read before any cost
    # A report written over a document or its label would lose it: refuse before any cost.
    files = [
        str(path) for document in dataset.documents for path in (document.path, document.path.with_suffix(".json"))
    ]
    refuse_overwriting_inputs(args.out, files)
    refuse_overwriting_inputs(args.html, files, "--html")
    settings = settings_grid(args.models or (None,), args.detail or (None,), (args.mode,))
    policy = ReviewPolicy.lenient() if args.review == "lenient" else ReviewPolicy()
    report = evaluate(
        dataset,
        settings,
        cache=args.cache,
        concurrency=args.concurrency,
        review_policy=policy,
        fields=args.fields,
        progress=None if args.quiet else _progress,
    )
    text = report.to_json() if args.format == "json" else report.table()
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    if args.html is not None:
        args.html.write_text(report.html(), encoding="utf-8")
    return _status(report, args.fail_under)


def _progress(setting: str, done: int, total: int) -> None:
    if sys.stderr.isatty():
        end = "\n" if done == total else ""
        print(f"\rinvoiceai eval: {setting}: {done}/{total} documents", end=end, file=sys.stderr, flush=True)


def _status(report: Any, fail_under: float | None) -> int:
    failed = any(result.summary.failed for result in report.results)
    for result in report.results:
        accuracy = result.summary.values.accuracy
        if fail_under is not None and (accuracy is None or 100 * accuracy < fail_under):
            shown = "-" if accuracy is None else f"{100 * accuracy:.1f} %"
            print(
                f"invoiceai eval: {result.setting.name}: value accuracy {shown} is below {fail_under} %",
                file=sys.stderr,
            )
            failed = True
    return 1 if failed else 0
