"""Reading a Messages API reply. Pure: works on the reply as a plain dict.

The SDK's ``Message`` is turned into a dict (``message.model_dump()``) at the I/O boundary, so
these functions are equally usable on replies from the Batches API or a fake server.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from invoiceai.usage import Usage

if TYPE_CHECKING:
    from invoiceai.backends.base import T
    from invoiceai.backends.claude.prices import PriceTable

__all__ = ["Outcome", "Reply", "parse_reply", "reply_usage", "split_value_pages", "validate_payload"]

Outcome = Literal["answer", "truncated", "refusal", "context_exceeded", "empty"]

# How much of one error's offending input is quoted back in a re-ask.
_MAX_INPUT_CHARS = 60
_MAX_ERRORS = 25
# At most this many value pages are kept from one reply (an invoice has a few hundred values).
_MAX_VALUE_PAGES = 5000
# No page number is larger (as the cache's MAX_PAGE_NUMBER: no document that large is extracted).
_MAX_PAGE = 1_000_000
# `$.line_items.3.amount` or `line_items[3].amount`: one form, the one findings use.
_DOTTED_INDEX = re.compile(r"\.(\d+)(?=\.|$)")


@dataclasses.dataclass(frozen=True)
class Reply:
    """The parts of a reply that matter for extraction.

    Attributes:
        outcome: ``answer`` (a payload to validate), ``truncated`` (hit ``max_tokens``),
            ``refusal``, ``context_exceeded`` (hit the context window) or ``empty`` (no payload).
        stop_reason: The API's ``stop_reason``.
        payload: The JSON text of the answer (the tool input, serialised, in tool mode).
        tool_use_id: Id of the tool call, in tool mode; needed to re-ask.
        refusal: The refusal explanation, when given.
        model: Model id the API reports.
        input_tokens: Uncached input tokens.
        output_tokens: Output tokens.
        cache_read_input_tokens: Input tokens read from the prompt cache.
        cache_creation_input_tokens: Input tokens written to the prompt cache.
    """

    outcome: Outcome
    stop_reason: str | None
    payload: str | None = None
    tool_use_id: str | None = None
    refusal: str | None = None
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Every input and output token of the reply."""
        return self.input_tokens + self.output_tokens + self.cache_read_input_tokens + self.cache_creation_input_tokens


def parse_reply(message: Mapping[str, Any], *, tool_name: str | None = None) -> Reply:
    """Reads a Messages API reply.

    Args:
        message: The reply as a dict (``Message.model_dump()``).
        tool_name: The forced tool's name in tool mode; ``None`` for structured outputs.

    Returns:
        What the reply says, with its token counts.
    """
    usage = message.get("usage") or {}
    counts = {
        "input_tokens": int(usage.get("input_tokens") or 0),
        "output_tokens": int(usage.get("output_tokens") or 0),
        "cache_read_input_tokens": int(usage.get("cache_read_input_tokens") or 0),
        "cache_creation_input_tokens": int(usage.get("cache_creation_input_tokens") or 0),
    }
    stop_reason = message.get("stop_reason")
    model = message.get("model")
    blocks = [block for block in message.get("content") or [] if isinstance(block, Mapping)]
    payload: str | None = None
    tool_use_id: str | None = None
    if tool_name is not None:
        for block in blocks:
            if block.get("type") == "tool_use" and block.get("name") == tool_name:
                payload = json.dumps(block.get("input"), ensure_ascii=False)
                tool_use_id = block.get("id")
                break
    if payload is None:
        texts = [str(block.get("text") or "") for block in blocks if block.get("type") == "text"]
        payload = "".join(texts).strip() or None

    outcome: Outcome
    refusal = None
    if stop_reason == "refusal":
        outcome = "refusal"
        details = message.get("stop_details") or {}
        refusal = details.get("explanation") or details.get("category") or None
    elif stop_reason == "max_tokens":
        outcome = "truncated"
    elif stop_reason == "model_context_window_exceeded":
        outcome = "context_exceeded"
    elif payload is None:
        outcome = "empty"
    else:
        outcome = "answer"
    return Reply(outcome, stop_reason, payload, tool_use_id, refusal, model, **counts)


def reply_usage(reply: Reply, *, prices: PriceTable, model: str, batch: bool = False) -> tuple[Usage, bool]:
    """Returns the usage of one successful request and whether its price was known.

    Args:
        reply: The parsed reply.
        prices: Price table.
        model: The model billed (the request's, since the reply may name a snapshot).
        batch: The request went through the Message Batches API (half price).
    """
    cost = prices.cost(
        model,
        input_tokens=reply.input_tokens,
        output_tokens=reply.output_tokens,
        cache_read_input_tokens=reply.cache_read_input_tokens,
        cache_creation_input_tokens=reply.cache_creation_input_tokens,
        batch=batch,
    )
    usage = Usage(
        input_tokens=reply.input_tokens,
        output_tokens=reply.output_tokens,
        cache_read_input_tokens=reply.cache_read_input_tokens,
        cache_creation_input_tokens=reply.cache_creation_input_tokens,
        requests=1,
        cost_usd=cost if cost is not None else Decimal(0),
    )
    return usage, cost is not None


def validate_payload(
    payload: str, schema: type[T], *, context: Mapping[str, Any] | None = None
) -> tuple[T | None, list[str]]:
    """Validates a reply's JSON against ``schema``.

    Returns:
        ``(instance, [])`` on success, else ``(None, errors)`` with one readable line per
        validation error (location, message and a short quote of the offending input).
    """
    from pydantic import ValidationError

    try:
        return schema.model_validate_json(payload, context=dict(context) if context else None), []
    except ValidationError as exc:
        return None, format_errors(exc.errors(include_url=False))


def format_errors(errors: list[Any]) -> list[str]:
    """Formats Pydantic error dicts as short lines for a re-ask (at most 25)."""
    lines = []
    for error in errors[:_MAX_ERRORS]:
        location = ".".join(str(part) for part in error.get("loc", ())) or "(root)"
        line = f"{location}: {error.get('msg', 'invalid')}"
        if error.get("type") not in ("missing", "json_invalid") and "input" in error:
            quoted = json.dumps(error["input"], ensure_ascii=False, default=str)
            if len(quoted) > _MAX_INPUT_CHARS:
                quoted = quoted[: _MAX_INPUT_CHARS - 3] + "..."
            line += f" (got {quoted})"
        lines.append(line)
    if len(errors) > _MAX_ERRORS:
        lines.append(f"... and {len(errors) - _MAX_ERRORS} more errors of the same kinds")
    return lines


def split_value_pages(payload: str, pages: range | None = None) -> tuple[str, dict[str, int] | None]:
    """Takes the value pages out of a reply's JSON text, leaving the rest of it byte for byte.

    The rest is validated against the user's schema as it is: its numbers are never parsed as
    floats and written back (which could change a long amount).

    Args:
        payload: The reply's JSON text.
        pages: The page numbers the request held; an entry naming another page is dropped (the
            model cannot have read a value there). ``None`` keeps every page from 1 to 1,000,000.

    Returns:
        The JSON text without the :data:`~invoiceai.schema.structured.VALUE_PAGES_KEY` property,
        and the pages by path (``None`` when the reply has no such property, or is not a JSON
        object, which is then left for validation to report). Entries that are not a path and a
        page number are skipped; paths are written as findings write them (``line_items[3].amount``).
    """
    from invoiceai.schema.structured import VALUE_PAGES_KEY

    if VALUE_PAGES_KEY not in payload:
        return payload, None
    members = _members(payload)
    if members is None:
        return payload, None
    kept = [payload[start:end] for key, start, end, _ in members if key != VALUE_PAGES_KEY]
    entries = [value for key, _, _, value in members if key == VALUE_PAGES_KEY]
    if not entries:
        return payload, None
    return "{" + ",".join(kept) + "}", _value_pages(entries[-1], range(1, _MAX_PAGE + 1) if pages is None else pages)


def _members(text: str) -> list[tuple[str, int, int, Any]] | None:
    # The root object's members as (key, start, end, value), ``text[start:end]`` being `"key": value`.
    # Only the value pages' numbers are used: a number too long to be a page reads as 0 (no page)
    # instead of failing the split; the text left for validation still holds it as written.
    decoder = json.JSONDecoder(parse_int=_page_int)
    position = _skip(text, 0)
    if text[position : position + 1] != "{":
        return None
    members: list[tuple[str, int, int, Any]] = []
    position = _skip(text, position + 1)
    if text[position : position + 1] == "}":
        return members
    try:
        while True:
            start = position
            key, position = decoder.raw_decode(text, position)
            position = _skip(text, position)
            if not isinstance(key, str) or text[position] != ":":
                return None
            position = _skip(text, position + 1)
            value, position = decoder.raw_decode(text, position)
            members.append((key, start, position, value))
            position = _skip(text, position)
            if text[position] == "}":
                return members
            if text[position] != ",":
                return None
            position = _skip(text, position + 1)
    except (ValueError, IndexError, RecursionError):
        return None


def _skip(text: str, position: int) -> int:
    # JSON whitespace from ``position`` on: the index of the next token.
    while position < len(text) and text[position] in " \t\n\r":
        position += 1
    return position


def _page_int(text: str) -> int:
    return int(text) if len(text) <= len(str(_MAX_PAGE)) else 0


def _value_pages(entries: Any, sent: range) -> dict[str, int]:
    pages: dict[str, int] = {}
    for entry in entries[:_MAX_VALUE_PAGES] if isinstance(entries, list) else ():
        if not isinstance(entry, Mapping):
            continue
        path, page = entry.get("path"), entry.get("page")
        if isinstance(page, str) and page.strip().isdecimal():
            page = _page_int(page.strip())  # a forced tool call is not held to the schema's types
        if not isinstance(path, str) or isinstance(page, bool) or not isinstance(page, int):
            continue
        if page not in sent:
            continue
        path = _DOTTED_INDEX.sub(r"[\1]", path.strip().removeprefix("$").removeprefix(".").replace(" ", ""))
        pages.setdefault(path, page)
    return pages
