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


SHELLS = ("bash", "sh", "shell", "console")
"""The fence languages whose ``invoiceai ...`` lines are parsed by the CLI's own parser."""

_ENV_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=.*")
_OPERATORS = {"&&", "||", "|", ";", "&"}


@dataclass(frozen=True)
class Command:
    """One ``invoiceai`` command line of a shell block, split into its arguments."""

    where: str  # page:line of the command
    argv: tuple[str, ...]  # the arguments after ``invoiceai`` (or ``python -m invoiceai``)


def commands(page: Path) -> list[Command]:
    """Every ``invoiceai`` command in the shell blocks of ``page``, as the shell would split it.

    A ``$ `` prompt, a trailing comment, a ``\\`` continuation, ``VAR=value`` prefixes and output
    redirections are handled; ``a && b`` and ``a | b`` give one command per ``invoiceai`` part.
    Lines of a ``console`` block that do not start with a prompt are output, not commands.
    """
    import shlex

    found = []
    for block in (found_block for language in SHELLS for found_block in blocks(page, language)):
        for number, line in _joined_lines(block.code):
            text = line.strip()
            if block.language == "console":
                if not text.startswith("$ "):
                    continue
                text = text[2:]
            text = text.removeprefix("$ ")
            lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|<>")
            lexer.whitespace_split = True
            lexer.commenters = "#"
            for part in _split_on_operators(list(lexer)):
                argv = _invoiceai_argv(part)
                if argv is not None:
                    found.append(Command(f"{block.page.relative_to(ROOT)}:{block.line + number}", tuple(argv)))
    return found


def _joined_lines(code: str) -> list[tuple[int, str]]:
    """The block's lines (1-based within the block) with ``\\`` continuations joined."""
    joined: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for number, line in enumerate(code.splitlines(), start=1):
        if pending is not None:
            line = pending[1] + " " + line.lstrip()
            number = pending[0]
            pending = None
        if line.endswith("\\"):
            pending = (number, line[:-1])
            continue
        joined.append((number, line))
    if pending is not None:
        joined.append(pending)
    return joined


def _split_on_operators(tokens: list[str]) -> list[list[str]]:
    parts: list[list[str]] = [[]]
    skip_next = False
    for token in tokens:
        if skip_next:  # the file a redirection names
            skip_next = False
            continue
        if token in _OPERATORS or set(token) <= set("&|;"):
            parts.append([])
        elif set(token) <= set("<>&0123456789") and any(char in token for char in "<>"):
            skip_next = True
        else:
            parts[-1].append(token)
    return parts


def _invoiceai_argv(tokens: list[str]) -> list[str] | None:
    # A synopsis marks optional parts with brackets ("[--daily-quota 500]"): parse them as given.
    tokens = [token.removeprefix("[").removesuffix("]") for token in tokens]
    while tokens and _ENV_ASSIGNMENT.fullmatch(tokens[0]):
        tokens = tokens[1:]
    if tokens[:1] == ["invoiceai"]:
        return tokens[1:]
    if len(tokens) >= 3 and tokens[0].startswith("python") and tokens[1:3] == ["-m", "invoiceai"]:
        return tokens[3:]
    return None
