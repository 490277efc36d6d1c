"""Opening the job store: an engine for SQLite or PostgreSQL, and the migrations applied at startup."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoiceai.errors import ConfigurationError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

__all__ = ["MIGRATIONS", "check", "migrate", "open_engine", "reading"]

_READ = "invoiceai_read"
_MIGRATION_LOCK = 0x1A1_5E7E  # any constant; only our migrations take this advisory lock

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
"""The Alembic script directory shipped in the package."""


def open_engine(url: str) -> Engine:
    """An engine for ``url``, tuned for many threads.

    SQLite gets WAL (readers never wait for the writer), a 30 s busy timeout and ``BEGIN
    IMMEDIATE`` transactions: a transaction that reads and then writes would otherwise fail
    with "database is locked" instead of waiting its turn. PostgreSQL gets ``pool_pre_ping``,
    so a connection the server dropped is replaced instead of failing a request. Neither ever
    puts a statement's parameters into an error message (``hide_parameters``): they hold
    passwords, URLs with signed queries and callback tokens, and error messages reach the log.

    Raises:
        ConfigurationError: The URL does not parse or names a driver that is not installed.
    """
    from sqlalchemy import create_engine, event
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:  # ValueError: a port that is no number
        # Neither the URL nor the reason (which may quote part of it): it holds the password.
        reason = "its port is not a number" if isinstance(exc, ValueError) else "it is not a database URL"
        raise ConfigurationError(
            f"The database URL does not parse ({reason}). Use sqlite:///PATH or "
            "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE."
        ) from None
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3, not psycopg2
    try:
        if parsed.get_backend_name() != "sqlite":
            return create_engine(parsed, hide_parameters=True, pool_pre_ping=True, pool_size=10, max_overflow=20)
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, hide_parameters=True, connect_args={"check_same_thread": False, "timeout": 30})
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        # mysql:// imports MySQLdb (ModuleNotFoundError); an unknown scheme has no dialect at all.
        missing = f" (the Python module {exc.name!r} is not installed)" if isinstance(exc, ModuleNotFoundError) else ""
        raise ConfigurationError(
            f"No driver for the database URL's scheme {parsed.drivername!r}{missing}. The job store runs on "
            "sqlite:///PATH or postgresql+psycopg://..."
        ) from None

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Reads (see reading()) take no write lock: with WAL they never wait for the writer.
        read = connection.get_execution_options().get(_READ, False)
        connection.exec_driver_sql("BEGIN" if read else "BEGIN IMMEDIATE")

    return engine


def reading(engine: Engine) -> Connection:
    """A connection for reads only (on SQLite its transactions take no write lock)."""
    return engine.connect().execution_options(**{_READ: True})


def migrate(engine: Engine) -> None:
    """Brings the job store's schema up to date (Alembic ``upgrade head``); safe to run on every start.

    On PostgreSQL a transaction-scoped advisory lock makes processes that start together (an API
    and its workers) migrate one after the other instead of racing to create the same tables.
    """
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def check(engine: Engine) -> None:
    """Runs ``SELECT 1``; raises the driver's error when the database cannot be reached."""
    from sqlalchemy import text

    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
