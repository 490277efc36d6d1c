"""``invoiceai worker``: a Celery worker of the service's fleet, running jobs the API queued."""

from __future__ import annotations

import argparse

from invoiceai.cli.extras import server_extra_missing
from invoiceai.errors import ConfigurationError

__all__ = ["DESCRIPTION", "HELP", "NAME", "add_arguments", "run"]

NAME = "worker"
HELP = "run jobs of an invoiceai service fleet (Celery worker; needs the 'server' extra)"
DESCRIPTION = (
    "Run the jobs an 'invoiceai serve --broker URL' API queues: a Celery worker on the Redis broker, with "
    "--concurrency threads, reading uploads and storing results in the service's database (--database or "
    "INVOICEAI_SERVER_DATABASE_URL: a PostgreSQL URL every worker can reach). Tasks are acknowledged only "
    "when done, so a job whose worker dies is run again elsewhere and its result stored once. Give every "
    "worker the same shared result cache (--cache redis://..., INVOICEAI_SERVER_CACHE) so a rerun job costs "
    "no second model call. Stop it with SIGTERM or Ctrl-C: running jobs finish first."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``worker`` subcommand's arguments to its parser."""
    parser.add_argument("--database", metavar="URL", help="job store: postgresql+psycopg://... (shared by the fleet)")
    parser.add_argument("--broker", metavar="URL", help="Celery broker, redis://host:6379/0")
    parser.add_argument("--cache", metavar="SPEC", help="result cache shared by the fleet, redis://host:6379/1")
    parser.add_argument("--concurrency", type=int, default=4, metavar="N", help="jobs run at once (default 4)")
    parser.add_argument("--loglevel", default="INFO", help="Celery's log level (default INFO)")


def run(args: argparse.Namespace) -> int:
    """Runs the worker until it is stopped; returns the exit code."""
    try:
        from invoiceai.server.context import ServiceContext
        from invoiceai.server.fleet import FleetWorker, worker_settings_problem
        from invoiceai.server.settings import ServiceSettings
    except ModuleNotFoundError as exc:
        raise server_extra_missing("worker", exc) from exc
    if args.concurrency < 1:
        raise ConfigurationError(f"--concurrency must be at least 1, got {args.concurrency}.")
    settings = ServiceSettings.load(database_url=args.database, broker_url=args.broker, cache=args.cache, workers=0)
    problem = worker_settings_problem(settings)
    if problem is not None:
        raise ConfigurationError(problem)
    context = ServiceContext(settings)
    worker = FleetWorker(context, concurrency=args.concurrency)
    try:
        worker.run(loglevel=args.loglevel)
    finally:
        worker.close()
        context.close()
    return 0
