"""``invoiceai batch submit|status|collect|list|delete``: extract through the Message Batches API at half price.

``status`` and ``collect`` need no ``--model`` or ``--mode``: the job's own (model, mode, detail,
attempt and token limits) are read from the store and the extractor is built with them.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from invoiceai.cli.hints import cli_message
from invoiceai.cli.inputs import expand_inputs, output_path, page_selection, require_api_key
from invoiceai.cli.output import CSV_ESCAPE_HELP, FORMATS, OutputFile, ResultWriter
from invoiceai.cli.report import Tally, print_failures

__all__ = ["DESCRIPTION", "EXIT_NOT_FINISHED", "HELP", "NAME", "add_arguments", "run"]

NAME = "batch"
HELP = "extract through the Message Batches API (half price, results within 24 h)"
DESCRIPTION = (
    "Submit FILEs as a Message Batches job and collect the results later, from any process that "
    "shares the cache (--cache) and the files. E-invoices and cached documents are never sent. "
    "Exit status: 0 all ok, 1 some failed, 2 usage error, 3 the job is not finished (collect --no-wait, "
    "--timeout, or another process collecting it right now)."
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
    submit.add_argument("files", nargs="+", metavar="FILE", help="paths, directories or http(s) URLs")
    submit.add_argument(
        "--recursive", action="store_true", help="a directory also means the invoices in its subdirectories"
    )
    submit.add_argument("--format", choices=("text", "json"), default="text", help="text: the id; json: the job")
    submit.add_argument(
        "--pages", type=page_selection, metavar="SEL", help='pages to read, e.g. "1-3,7" (default: all)'
    )
    submit.add_argument("--no-embedded", action="store_true", help="ignore embedded e-invoice XML; use the model")
    submit.add_argument("--max-requests", type=_positive, metavar="N", help="requests per batch (default 100,000)")
    status = actions.add_parser("status", help="show where a job stands")
    status.add_argument("id", metavar="ID")
    status.add_argument("--format", choices=("text", "json"), default="text")
    collect = actions.add_parser("collect", help="wait for a job and print its results in input order")
    collect.add_argument("id", metavar="ID")
    collect.add_argument("--format", choices=FORMATS, default="json", help="output format (default: json)")
    collect.add_argument("--out", type=output_path, metavar="PATH", help="write the data here instead of stdout")
    collect.add_argument(
        "--no-wait", action="store_true", help=f"print what has arrived and exit {EXIT_NOT_FINISHED} if unfinished"
    )
    collect.add_argument("--poll", type=_seconds, default=30.0, metavar="SECONDS", help="wait between looks")
    collect.add_argument(
        "--follow-up",
        choices=("batch", "live"),
        default="batch",
        help="send re-asks, retries and later chunks in follow-up batches (default, half price) or live (now, "
        "full price)",
    )
    collect.add_argument(
        "--timeout",
        type=_seconds,
        metavar="SECONDS",
        help=f"give up waiting after this long (exit {EXIT_NOT_FINISHED})",
    )
    collect.add_argument("--quiet", action="store_true", help="no summary line")
    collect.add_argument("--no-csv-escape", action="store_true", help=CSV_ESCAPE_HELP)
    listing = actions.add_parser("list", help="list the jobs in the batch store")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    delete = actions.add_parser(
        "delete", help="remove a finished job's stored state (its results cannot be collected again)"
    )
    delete.add_argument("id", metavar="ID")
    delete.add_argument(
        "--force", action="store_true", help="also while batches of it are running (they are abandoned)"
    )
    for sub in (submit, status, collect, listing, delete):
        _common(sub)


def _common(parser: argparse.ArgumentParser) -> None:
    # A job is collected with the backend it was sent with: status and collect read it from the store.
    parser.add_argument(
        "--model", help="Claude model id (default: the job's, else INVOICEAI_MODEL or the built-in one)"
    )
    parser.add_argument(
        "--mode", choices=("images", "images+text", "text", "pdf"), help="what is sent (default: the job's)"
    )
    parser.add_argument(
        "--cache",
        metavar="SPEC",
        default="sqlite",
        help="result cache, beside which jobs are kept: 'sqlite' (default), a file path or a redis:// URL",
    )
    parser.add_argument("--password", help="password for encrypted PDFs (visible in the process list)")


def run(args: argparse.Namespace) -> int:
    """Runs one ``batch`` action; returns the exit code."""
    if args.action == "submit":  # the files are checked before anything is stored or sent
        args.inputs = expand_inputs(args.files, recursive=args.recursive)
        require_api_key(args.inputs, prefer_embedded=not args.no_embedded, password=args.password)
    with _extractor(args) as extractor:
        if args.action == "submit":
            return _submit(extractor, args)
        if args.action == "status":
            job = extractor.batch_status(args.id)
            return _print_jobs([job], args.format, json_value=job.to_dict())
        if args.action == "list":
            jobs = extractor.list_batches()
            return _print_jobs(jobs, args.format, json_value=[job.to_dict() for job in jobs])
        if args.action == "delete":
            extractor.delete_batch(args.id, force=args.force)
            print(f"deleted batch job {args.id}")
            return 0
        return _collect(extractor, args)


def _extractor(args: argparse.Namespace) -> Any:
    """The extractor for an action: for ``status`` and ``collect``, set up as the job was submitted."""
    from invoiceai.cache.batch_store import open_batch_store
    from invoiceai.config import Settings
    from invoiceai.extractor import Extractor
    from invoiceai.extractor.batch_state import JobMeta

    settings = Settings.load()
    model, mode = args.model, args.mode
    if args.action in ("status", "collect"):
        store = open_batch_store(args.cache, settings=settings)
        try:
            meta = JobMeta.load(store, args.id)
        finally:
            store.close()
        stored = meta.options
        model, mode = model or meta.model, mode or stored.get("mode")
        names = ("max_attempts", "max_reasks", "token_budget", "detail")
        settings = settings.replace(**{name: stored.get(name) for name in names})
    return Extractor(
        model=model, cache=args.cache, mode=mode, settings=settings,
        prefer_embedded=not getattr(args, "no_embedded", False),
    )  # fmt: skip


def _submit(extractor: Any, args: argparse.Namespace) -> int:
    from invoiceai.backends.claude.batch.items import API_LIMITS, BatchLimits

    limits = BatchLimits(max_requests=args.max_requests) if args.max_requests else API_LIMITS
    job = extractor.submit_batch(args.inputs, pages=args.pages, password=args.password, limits=limits)
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
    from invoiceai.extractor.batch_errors import BatchJobError

    try:
        if args.no_wait:
            progress = extractor.poll_batch(args.id, password=args.password, follow_up=args.follow_up)
            results = list(progress.results)
        else:
            results = extractor.collect_batch(
                args.id, password=args.password, poll_interval=args.poll, timeout=args.timeout,
                follow_up=args.follow_up,
            )  # fmt: skip
    except BatchJobError as exc:  # busy, or out of time: the job is stored, collect again later
        print(f"invoiceai: {cli_message(exc)}", file=sys.stderr)
        return EXIT_NOT_FINISHED
    tally, failures = Tally(), []
    output = OutputFile(args.out)
    with output as stream:
        writer = ResultWriter(stream, args.format, escape_formulas=not args.no_csv_escape)
        for result in results:
            if result is None:
                continue
            writer.write(result)
            tally.add(result)
            if isinstance(result, ExtractionFailure):
                failures.append(result)
        writer.close()
        if writer.written:
            output.commit()
    print_failures(failures)
    if not args.quiet:
        print(tally.line(), file=sys.stderr)
    missing = sum(1 for result in results if result is None)
    if missing:
        print(
            f"invoiceai: batch job {args.id} is not finished: {len(results) - missing} of {len(results)} documents "
            "have results; run collect again later.",
            file=sys.stderr,
        )
        return EXIT_NOT_FINISHED
    return 1 if failures else 0
