"""Library advice in CLI words: ``pass cache=None`` becomes ``pass --no-cache``.

The library's messages speak to Python callers (``pass password='...'``); the command line
rewrites their advice here, in one table, so the library's messages stay as they are and a
person at a shell is told which option or variable to use.
"""

from __future__ import annotations

import re

__all__ = ["HINTS", "cli_message"]

HINTS: tuple[tuple[str, str], ...] = (
    (r",? or pass api_key= or client= to ClaudeBackend\.", "."),
    (r"pass password='\.\.\.' to open it", "pass --password PW to open it"),
    (r"\(pass ``password=``\)", "(pass --password PW)"),
    (r"\bpass password=", "pass --password "),
    (r"\bpass cache=None\b", "pass --no-cache"),
    (r"\bpass force=True\b", "pass --force"),
    (r"select some with pages=", "select some with --pages"),
    (r"raise Settings\(max_pages=\.\.\.\) \((INVOICEAI_MAX_PAGES)\)", r"raise \1"),
    (r"\bpass schema=Invoice \(or a subclass\), or prefer_embedded=False", "pass --no-embedded"),
    (r"\bprefer_embedded=False\b", "--no-embedded"),
    (r"\bpages=(['\"])", r"--pages \1"),
    (r"ANTHROPIC_BASE_URL \(or base_url=\)", "ANTHROPIC_BASE_URL"),
    (r"set Settings\(allow_private_urls=True\) \((INVOICEAI_ALLOW_PRIVATE_URLS=1)\)", r"set \1"),
    (r"Settings\(allow_private_urls=True\)", "INVOICEAI_ALLOW_PRIVATE_URLS=1"),
    (r"raise ImageRenderer\(max_image_pixels=\.\.\.\)", "raise INVOICEAI_MAX_IMAGE_PIXELS"),
    (r"Raise\s+Settings\(max_image_pixels=\.\.\.\) \((INVOICEAI_MAX_IMAGE_PIXELS)\)", r"Raise \1"),
)
"""(pattern, replacement) pairs applied in order to every message the CLI prints."""

_COMPILED = tuple((re.compile(pattern), replacement) for pattern, replacement in HINTS)


def cli_message(error: BaseException | str) -> str:
    """Returns ``error``'s message with Python advice replaced by the CLI option or variable."""
    text = str(error)
    for pattern, replacement in _COMPILED:
        text = pattern.sub(replacement, text)
    return text
