"""``invoiceai batch submit|status|collect|list``: extract through the Message Batches API at half price."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TextIO

from invoiceai.cli.output import FORMATS, ResultWriter

__all__ = ["DESCRIPTION", "EXIT_NOT_FINISHED", "HELP", "NAME", "add_arguments", "run"]

NAME = "batch"
HELP = "extract through the Message Batches API (half price, results within 24 h)"
DESCRIPTION = (
    "Submit FILEs as a Message Batches job and collect the results later, from any process that "
    "shares the cache (--cache) and the files. E-invoices and cached documents are never sent. "
    "Exit status: 0 all ok, 1 some failed, 2 usage error, 3 the job is not finished (collect --no-wait)."
)

EXIT_NOT_FINISHED = 3
"""``batch collect --no-wait``: some documents have no result yet; collect again later."""


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``batch`` subcommands and their arguments."""
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    submit = actions.add_parser("submit", help="submit files; prints the job id")
    submit.add_argument("files", nargs="+", metavar="FILE", help="paths or http(s) URLs")
    submit.add_argument("--format", choices=("text", "json"), default="text", help="text: the id; json: the job")
    submit.add_argument("--pages", metavar="SEL", help='pages to read, e.g. "1-3,7" (default: all)')
    submit.add_argument("--no-embedded", action="store_true", help="ignore embedded e-invoice XML; use the model")
    submit.add_argument("--max-requests", type=_positive, metavar="N", help="requests per batch (default 100,000)")
    status = actions.add_parser("status", help="show where a job stands")
    status.add_argument("id", metavar="ID")
    status.add_argument("--format", choices=("text", "json"), default="text")
    collect = actions.add_parser("collect", help="wait for a job and print its results in input order")
    collect.add_argument("id", metavar="ID")
    collect.add_argument("--format", choices=FORMATS, default="json", help="output format (default: json)")
    collect.add_argument("--out", type=Path, metavar="PATH", help="write the data here instead of stdout")
    collect.add_argument(
        "--no-wait", action="store_true", help=f"print what has arrived and exit {EXIT_NOT_FINISHED} if unfinished"
    )
    collect.add_argument("--poll", type=_seconds, default=30.0, metavar="SECONDS", help="wait between looks")
    listing = actions.add_parser("list", help="list the jobs in the batch store")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    for sub in (submit, status, collect, listing):
        _common(sub)


def _common(parser: argparse.ArgumentParser) -> None:
    # Submit and collect must agree on these: a job is collected with the backend it was sent with.
    parser.add_argument("--model", help="Claude model id (default: INVOICEAI_MODEL or the built-in default)")
    parser.add_argument("--mode", choices=("images", "images+text", "text", "pdf"), help="what is sent to Claude")
    parser.add_argument(
        "--cache",
        metavar="SPEC",
        default="sqlite",
        help="result cache, beside which jobs are kept: 'sqlite' (default), a file path or a redis:// URL",
    )
    parser.add_argument("--password", help="password for encrypted PDFs (visible in the process list)")


def run(args: argparse.Namespace) -> int:
    """Runs one ``batch`` action; returns the exit code."""
    from invoiceai.extractor import Extractor

    extractor = Extractor(
        model=args.model, cache=args.cache, mode=args.mode, prefer_embedded=not getattr(args, "no_embedded", False)
    )
    with extractor:
        if args.action == "submit":
            return _submit(extractor, args)
        if args.action == "status":
            job = extractor.batch_status(args.id)
            return _print_jobs([job], args.format, json_value=job.to_dict())
        if args.action == "list":
            jobs = extractor.list_batches()
            return _print_jobs(jobs, args.format, json_value=[job.to_dict() for job in jobs])
        return _collect(extractor, args)


def _submit(extractor: Any, args: argparse.Namespace) -> int:
    from invoiceai.backends.claude.batch.items import API_LIMITS, BatchLimits

    limits = BatchLimits(max_requests=args.max_requests) if args.max_requests else API_LIMITS
    job = extractor.submit_batch(args.files, pages=args.pages, password=args.password, limits=limits)
    print(json.dumps(job.to_dict()) if args.format == "json" else job.id)
    return 0


def _print_jobs(jobs: list[Any], fmt: str, *, json_value: Any) -> int:
    if fmt == "json":
        print(json.dumps(json_value))
        return 0
    for job in jobs:
        print(
            f"{job.id}  {job.state:<11}  {job.documents} documents, {job.sent} sent, {job.rounds} rounds, "
            f"{job.answered}/{job.requests} requests answered  {job.created_at}"
        )
    return 0


def _collect(extractor: Any, args: argparse.Namespace) -> int:
    from invoiceai.extractor import ExtractionFailure

    if args.no_wait:
        progress = extractor.poll_batch(args.id, password=args.password)
        results = list(progress.results)
    else:
        results = extractor.collect_batch(args.id, password=args.password, poll_interval=args.poll)
    failures = []
    with ExitStack() as stack:
        stream: TextIO = sys.stdout
        if args.out is not None:
            stream = stack.enter_context(args.out.open("w", encoding="utf-8", newline=""))
        writer = ResultWriter(stream, args.format)
        for result in results:
            if result is None:
                continue
            writer.write(result)
            if isinstance(result, ExtractionFailure):
                failures.append(result)
        writer.close()
    for failure in failures:
        print(f"invoiceai: {failure.source}: {type(failure.error).__name__}: {failure.error}", file=sys.stderr)
    missing = sum(1 for result in results if result is None)
    if missing:
        print(
            f"invoiceai: batch job {args.id} is not finished: {len(results) - missing} of {len(results)} documents "
            "have results; run collect again later.",
            file=sys.stderr,
        )
        return EXIT_NOT_FINISHED
    return 1 if failures else 0
