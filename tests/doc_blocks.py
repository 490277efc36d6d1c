"""The code blocks of the documentation, and the stage they run on.

Every ```` ```python ```` block in ``docs/`` and ``README.md`` runs in the test suite, as a reader
would run it: the blocks of one page in order, in one namespace, in a fresh directory that holds
a copy of ``examples/`` (so ``examples/sample-scan.jpg`` and ``examples/sample-facturx.pdf`` are
there), with ``ANTHROPIC_API_KEY`` and ``ANTHROPIC_BASE_URL`` pointing at a loopback
:class:`~invoiceai.testing.FakeClaudeAPI` that answers with the sample invoice, and the cache in
the temporary directory.

A block that cannot run that way (it needs a live Redis, a web server, a Celery worker) is
preceded by the line ``<!-- docs: not run (the reason) -->``; the test counts and reports them,
and caps how many there may be.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
NOT_RUN = re.compile(r"<!-- docs: not run \((?P<reason>[^)]+)\) -->")
_FENCE = re.compile(r"^```(?P<lang>[\w+-]*)[^\n]*\n(?P<code>.*?)^```\s*$", re.M | re.S)


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page."""

    page: Path
    line: int  # 1-based line of the opening fence
    language: str
    code: str
    not_run: str | None  # the reason, when marked not to run

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def pages() -> list[Path]:
    """Every Markdown page whose examples run: the docs and the README."""
    return [*sorted(DOCS.rglob("*.md")), ROOT / "README.md"]


def blocks(page: Path, language: str | None = "python") -> list[Block]:
    """The fenced blocks of ``page`` (of one language, or all with ``None``), in order."""
    text = page.read_text()
    found = []
    for match in _FENCE.finditer(text):
        if language is not None and match["lang"] != language:
            continue
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = NOT_RUN.fullmatch(before.strip())
        found.append(
            Block(
                page=page,
                line=text.count("\n", 0, match.start()) + 1,
                language=match["lang"],
                code=match["code"],
                not_run=marker["reason"] if marker else None,
            )
        )
    return found
