"""``invoiceai serve``: the HTTP service (API, SQLite job store and in-process workers) under uvicorn."""

from __future__ import annotations

import argparse
import ipaddress

from invoiceai.cli.extras import server_extra_missing
from invoiceai.errors import ConfigurationError

__all__ = ["DESCRIPTION", "HELP", "NAME", "add_arguments", "is_loopback", "port_number", "run"]

NAME = "serve"
HELP = "run the invoiceai HTTP service (needs the 'server' extra)"
DESCRIPTION = (
    "Serve the invoiceai API on HOST:PORT (default 127.0.0.1:8000). Jobs are stored in SQLite under the "
    "cache directory unless --database (or INVOICEAI_SERVER_DATABASE_URL) names another database; the "
    "schema is migrated at startup. In-process workers run the jobs: nothing else needs to run. Clients "
    "send 'Authorization: Bearer KEY' (see 'invoiceai keys create'); --no-auth is accepted on a "
    "loopback address only. With --broker (or INVOICEAI_SERVER_BROKER_URL) the service runs as a fleet: "
    "this process only accepts and reports, and 'invoiceai worker' processes run the jobs."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``serve`` subcommand's arguments to its parser."""
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=port_number, help="port to listen on (default 8000)")
    parser.add_argument("--no-auth", action="store_true", help="accept requests without an API key (loopback only)")
    parser.add_argument("--database", metavar="URL", help="job store: sqlite:///PATH or postgresql+psycopg://...")
    parser.add_argument("--workers", type=int, metavar="N", help="in-process worker threads (0: none; default 4)")
    parser.add_argument("--broker", metavar="URL", help="fleet mode: Celery broker, redis://host:6379/0")


def port_number(text: str) -> int:
    """An argparse ``type=`` for ``--port``: a TCP port, so a typo is a usage error and not a traceback."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (0 to 65535)")
    return value


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    """Starts the service and serves until interrupted; returns the exit code."""
    try:
        import uvicorn

        from invoiceai.server.app import create_app
        from invoiceai.server.settings import ServiceSettings
    except ModuleNotFoundError as exc:
        raise server_extra_missing("serve", exc) from exc
    settings = ServiceSettings.load(
        host=args.host, port=args.port, database_url=args.database, workers=args.workers,
        auth=False if args.no_auth else None, broker_url=args.broker,
    )  # fmt: skip
    if not settings.auth and not is_loopback(settings.host):
        raise ConfigurationError(
            f"--no-auth is refused on {settings.host}: it is allowed on a loopback address only (127.0.0.1, ::1)."
        )
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")
    return 0
