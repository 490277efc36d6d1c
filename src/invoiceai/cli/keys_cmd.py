"""``invoiceai keys create|list|revoke``: the service's API keys (stored hashed; a new key is shown once)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from invoiceai.cli.extras import server_extra_missing
from invoiceai.errors import ConfigurationError

__all__ = ["DESCRIPTION", "HELP", "NAME", "add_arguments", "run"]

NAME = "keys"
HELP = "create, list or revoke API keys of the invoiceai service"
DESCRIPTION = (
    "Manage the API keys of the service's job store (--database, INVOICEAI_SERVER_DATABASE_URL, or the "
    "default SQLite file). 'create' prints the new key on stdout once; only its hash is stored."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``keys`` subcommands."""
    parser.add_argument("--database", metavar="URL", help="job store URL (default: the service's)")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create a key and print it once")
    create.add_argument("--name", required=True, help="what the key is for")
    create.add_argument("--daily-quota", type=int, metavar="N", help="documents per UTC day (default: the service's)")
    listing = actions.add_parser("list", help="list keys (never their secrets)")
    revoke = actions.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id", metavar="KEY_ID")
    for action in (create, listing, revoke):
        # 'keys list --database URL' too, not only 'keys --database URL list'; SUPPRESS keeps the
        # value given before the action when none is given after it.
        action.add_argument("--database", metavar="URL", default=argparse.SUPPRESS, help="job store URL")


def run(args: argparse.Namespace) -> int:
    """Runs the action; returns the exit code."""
    try:
        from sqlalchemy.exc import SQLAlchemyError

        from invoiceai.server import keys
        from invoiceai.server.db import migrate, open_engine
        from invoiceai.server.settings import ServiceSettings
    except ModuleNotFoundError as exc:
        raise server_extra_missing("keys", exc) from exc
    url = ServiceSettings.load(database_url=args.database).database_url
    engine = open_engine(url)
    try:
        return _act(args, engine, keys, migrate)
    except SQLAlchemyError as exc:
        # The driver's first line says what failed (refused, not a database); never the password.
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        password = _password(url)
        if password:  # should a driver ever quote the connection string back
            reason = reason.replace(password, "***")
        raise ConfigurationError(
            f"Cannot use the job store {_without_password(url)}: {reason}. Check --database "
            "(or INVOICEAI_SERVER_DATABASE_URL) and that the database is running."
        ) from None
    finally:
        engine.dispose()


def _password(url: str) -> str | None:
    from sqlalchemy.engine import make_url

    password = make_url(url).password
    return None if password is None else str(password)


def _without_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _act(args: argparse.Namespace, engine: Any, keys: Any, migrate: Any) -> int:
    """Migrates the store and runs ``args.action`` on it."""
    migrate(engine)
    if args.action == "create":
        key, secret = keys.create_key(engine, args.name, daily_quota=args.daily_quota)
        print(secret)
        print(f"invoiceai: created {key.id} ({key.name}); the key above is not shown again", file=sys.stderr)
        return 0
    if args.action == "list":
        for key in keys.list_keys(engine):
            revoked = None if key.revoked_at is None else key.revoked_at.isoformat() + "Z"
            fields = {"id": key.id, "name": key.name, "created_at": key.created_at.isoformat() + "Z"}
            print(json.dumps({**fields, "revoked_at": revoked, "daily_quota": key.daily_quota}))
        return 0
    if keys.revoke_key(engine, args.key_id):
        print(f"invoiceai: revoked {args.key_id}", file=sys.stderr)
        return 0
    print(f"invoiceai: no active key {args.key_id}", file=sys.stderr)
    return 1
