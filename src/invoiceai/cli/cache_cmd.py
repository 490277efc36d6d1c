"""``invoiceai cache info|clear``: look at or empty the result cache."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

__all__ = ["ACTIONS", "DESCRIPTION", "EPILOG", "HELP", "NAME", "add_arguments", "run"]


NAME = "cache"
HELP = "show (info) or clear the result cache"
DESCRIPTION = (
    "info (alias: show) prints where the result cache is and what it holds as JSON: backend, location, "
    "entries, size_bytes; clear deletes every entry. A cache file that does not exist is reported, "
    "not created."
)
EPILOG = """\
examples:
  invoiceai cache info                                   the default SQLite cache (INVOICEAI_CACHE_DIR)
  invoiceai cache show --cache ./invoices.sqlite3         another cache file
  invoiceai cache clear --cache redis://cache.internal:6379/0
"""

ACTIONS = {"info": "info", "show": "info", "clear": "clear"}
"""Accepted actions and what each does (``show`` is another name for ``info``)."""

# A count kept per opened cache object: a fresh process always starts at zero, so the CLI does not
# show these (the run summary of 'invoiceai extract' counts documents served from the cache).
_PER_PROCESS = ("hits", "misses")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``cache`` subcommand's arguments to its parser."""
    parser.add_argument(
        "action", choices=tuple(ACTIONS), metavar="ACTION", help="info (or show): what it holds; clear: empty it"
    )
    parser.add_argument(
        "--cache",
        metavar="SPEC",
        default="sqlite",
        help="which cache: 'sqlite' (default, in INVOICEAI_CACHE_DIR), a file path or a redis:// URL",
    )


def run(args: argparse.Namespace) -> int:
    """Prints the cache's info as JSON, or clears it; returns the exit code."""
    from invoiceai.cache import open_cache
    from invoiceai.config import Settings

    settings = Settings.load()
    missing = _missing_file(args.cache, settings)
    if missing is not None:  # opening a SQLite cache creates its file: say there is none instead
        info = {"backend": "sqlite", "location": str(missing), "entries": 0, "size_bytes": 0, "exists": False}
        print(json.dumps({"cleared": 0, **info} if ACTIONS[args.action] == "clear" else info))
        return 0
    cache = open_cache(args.cache, settings=settings)
    if cache is None:  # pragma: no cover - open_cache returns None only for spec=None
        return 2
    with cache:
        if ACTIONS[args.action] == "clear":
            before = cache.info().entries
            cache.clear()
            print(json.dumps({"cleared": before, **_shown(cache.info().to_dict())}))
        else:
            print(json.dumps(_shown(cache.info().to_dict())))
    return 0


def _shown(info: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in info.items() if key not in _PER_PROCESS}


def _missing_file(spec: str, settings: Any) -> Path | None:
    """The SQLite file ``spec`` names when it does not exist yet; ``None`` for anything else."""
    from invoiceai.cache.registry import CacheRegistry
    from invoiceai.cache.sqlite import DEFAULT_FILENAME

    text = spec.strip()
    if "://" in text or (text.lower() != "sqlite" and text.lower() in CacheRegistry.with_builtins()):
        return None  # a URL or a named cache (memory, a plugin): nothing on disk to create
    path = settings.cache_dir / DEFAULT_FILENAME if text.lower() == "sqlite" else Path(text).expanduser()
    if path.is_dir():
        path = path / DEFAULT_FILENAME
    return None if path.exists() else path.absolute()
