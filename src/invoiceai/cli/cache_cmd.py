"""``invoiceai cache info|clear``: look at or empty the result cache."""

from __future__ import annotations

import argparse
import json

__all__ = ["DESCRIPTION", "HELP", "NAME", "add_arguments", "run"]


NAME = "cache"
HELP = "show or clear the result cache"
DESCRIPTION = "Show where the result cache is and what it holds, or delete every entry in it."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``cache`` subcommand's arguments to its parser."""
    parser.add_argument("action", choices=("info", "clear"))
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

    cache = open_cache(args.cache, settings=Settings.load())
    if cache is None:  # pragma: no cover - open_cache returns None only for spec=None
        return 2
    with cache:
        if args.action == "clear":
            before = cache.info().entries
            cache.clear()
            print(json.dumps({"cleared": before, **cache.info().to_dict()}))
        else:
            print(json.dumps(cache.info().to_dict()))
    return 0
