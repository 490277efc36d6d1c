"""Splitting long documents into requests the API accepts, and merging the answers. Pure.

One request carries at most 100 images and 32 MB, and when it carries more than 20 images each
side must stay within 2000 px. Documents are split into balanced runs of consecutive pages
that respect those limits and a page cap that keeps each answer within the model's output
limit.

Answers are merged into one instance of the schema: header fields from the first chunk (later
chunks fill what it left empty), line items concatenated in page order, totals from the last
chunk that has them. :data:`INVOICE_MERGE` says which fields of
:class:`~invoiceai.schema.Invoice` are which; for any other model every list is concatenated
and every other field is taken from the first chunk that has it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from invoiceai.schema.invoice import TOTAL_FIELDS

if TYPE_CHECKING:
    from pydantic import BaseModel

    from invoiceai.backends.base import T
    from invoiceai.pages import ImageBudget

__all__ = [
    "INVOICE_MERGE",
    "ChunkPlanner",
    "MergeSpec",
    "RequestLimits",
    "budget_for_images",
    "has_value",
    "merge_parts",
    "pages_per_request",
    "plan_chunks",
]


@dataclasses.dataclass(frozen=True)
class RequestLimits:
    """What one Messages request may carry.

    Attributes:
        max_images: Images per request (100 on 200k-context models).
        max_request_bytes: Request body size; images count base64-encoded.
        many_images: Above this many images, each side must fit ``many_images_max_side``.
        many_images_max_side: Side limit for requests with many images.
        max_pages: Pages per request, to keep each answer within the output limit.
        reserved_bytes: Room kept for the prompt, schema and text layers.
    """

    max_images: int = 100
    max_request_bytes: int = 32 * 1024 * 1024
    many_images: int = 20
    many_images_max_side: int = 2000
    max_pages: int = 20
    reserved_bytes: int = 1024 * 1024

    def __post_init__(self) -> None:
        if min(self.max_images, self.max_pages, self.many_images_max_side) < 1:
            raise ValueError(f"request limits must be positive: {self}")


def budget_for_images(budget: ImageBudget, images: int, limits: RequestLimits) -> ImageBudget:
    """Returns ``budget``, capped at the many-images side limit when a request carries that many."""
    if images > limits.many_images and budget.long_edge > limits.many_images_max_side:
        return budget.capped(limits.many_images_max_side)
    return budget


def pages_per_request(schema_json: Mapping[str, Any], limits: RequestLimits, max_output_tokens: int) -> int:
    """Returns the most pages one request may carry so that a full answer fits the output limit."""
    from invoiceai.backends.claude.request import estimate_max_tokens

    pages = min(limits.max_pages, limits.max_images)
    while pages > 1 and estimate_max_tokens(schema_json, pages, cap=max_output_tokens * 2) > max_output_tokens:
        pages -= 1
    return pages


def plan_chunks(page_bytes: Sequence[int], limits: RequestLimits) -> list[range]:
    """Splits pages into runs of consecutive indexes that each fit in one request.

    The same plan :class:`ChunkPlanner` makes page by page, for sizes known all at once.

    Args:
        page_bytes: Encoded size of each page's payload (image bytes, text bytes), in order.
        limits: The request limits.

    Returns:
        Ranges of page indexes covering every page once, in order. A single page larger than
        a request is returned alone (the API will reject it with a clear error).
    """
    planner = ChunkPlanner(len(page_bytes), limits)
    chunks = [chunk for size in page_bytes for chunk in planner.feed(size)]
    return chunks + planner.finish()


class ChunkPlanner:
    """Cuts pages into requests one page at a time, as they are rendered. Pure.

    The page count is known before anything is rendered, so the balanced runs are planned up
    front (45 pages at 20 per request become 15+15+15, not 20+20+5); a run is cut earlier where
    the next page would push the request past its byte limit, which only that page's size can
    tell. A chunk is therefore complete as soon as its last page arrives (or the page after it
    overflows), and :meth:`feed` hands it out then. Feeding every size and calling
    :meth:`finish` gives exactly :func:`plan_chunks`.

    Pages beyond the announced count (a source that renders more than it said) go in further
    runs of the per-request page cap; :meth:`finish` closes a run cut short by a source that
    renders fewer.

    Args:
        count: Pages the source announced.
        limits: The request limits.

    Attributes:
        fed: Pages fed so far (the next page's index).
    """

    def __init__(self, count: int, limits: RequestLimits) -> None:
        self._count = max(0, count)
        self._per_chunk = min(limits.max_pages, limits.max_images)
        runs = math.ceil(self._count / self._per_chunk)
        size = math.ceil(self._count / runs) if runs else 1
        self._size = size
        self._room = max(1, limits.max_request_bytes - limits.reserved_bytes)
        self.fed = 0
        self._start = 0
        self._used = 0

    def feed(self, size: int) -> list[range]:
        """Adds the next page's payload size; returns the chunks this page completes (0 to 2)."""
        index = self.fed
        closed: list[range] = []
        encoded = _base64_size(size)
        if index > self._start and self._used + encoded > self._room:
            closed.append(range(self._start, index))
            self._start, self._used = index, 0
        self._used += encoded
        self.fed += 1
        if self.fed == self._run_stop(index):
            closed.append(range(self._start, self.fed))
            self._start, self._used = self.fed, 0
        return closed

    def finish(self) -> list[range]:
        """Ends the pages; returns the chunk left open, if any (the source rendered fewer pages)."""
        closed = [range(self._start, self.fed)] if self.fed > self._start else []
        self._start, self._used = self.fed, 0
        return closed

    def rewind(self) -> None:
        """Forgets the pages of the open chunk: they will be fed again (re-rendered smaller)."""
        self.fed, self._used = self._start, 0

    def runs_left(self) -> list[int]:
        """The lengths of the runs planned from the open chunk on (the whole plan before any page is fed).

        Byte limits can only cut a run earlier once its pages' sizes are known, so this is the
        plan as the page count alone decides it: what a document is priced on before it renders.
        """
        runs, start = [], self._start
        while start < self._count:
            stop = self._run_stop(start)
            runs.append(stop - start)
            start = stop
        return runs

    def pending(self) -> int:
        """Planned runs not yet complete (for ``chunk 3/25`` in log lines)."""
        if self._start >= self._count:
            return 1 if self.fed > self._start else 0
        return math.ceil((self._count - self._start) / self._size)

    def _run_stop(self, index: int) -> int:
        # The end of the balanced run holding ``index``; past the announced count, runs of the cap.
        if index < self._count:
            return min(self._count, (index // self._size + 1) * self._size)
        beyond = index - self._count
        return self._count + (beyond // self._per_chunk + 1) * self._per_chunk


def _base64_size(size: int) -> int:
    return 4 * math.ceil(size / 3)


@dataclasses.dataclass(frozen=True)
class MergeSpec:
    """How the answers of several chunks combine into one.

    Attributes:
        concatenate: List fields whose items are concatenated in chunk order.
        from_last: Fields taken from the last chunk that has a value (totals).
    """

    concatenate: frozenset[str] = frozenset()
    from_last: frozenset[str] = frozenset()


INVOICE_MERGE = MergeSpec(
    concatenate=frozenset({"line_items"}),
    from_last=frozenset({"tax_breakdown", *TOTAL_FIELDS}),
)


def merge_spec_for(schema: type[BaseModel]) -> MergeSpec:
    """Returns :data:`INVOICE_MERGE` for ``Invoice`` and subclasses, else the generic spec."""
    from pydantic import BaseModel

    from invoiceai.schema import Invoice

    if issubclass(schema, Invoice):
        return INVOICE_MERGE
    lists = (
        frozenset(name for name, field in schema.model_fields.items() if _is_list_annotation(field.annotation))
        if issubclass(schema, BaseModel)
        else frozenset()
    )
    return MergeSpec(concatenate=lists)


def merge_parts(parts: Sequence[T], spec: MergeSpec | None = None) -> T:
    """Merges the answers of consecutive chunks into one instance of their schema.

    Args:
        parts: One validated instance per chunk, in page order (at least one).
        spec: Which fields are concatenated and which are totals; derived from the schema when
            omitted.

    Returns:
        A new instance; the parts are not modified.
    """
    if not parts:
        raise ValueError("merge_parts needs at least one part")
    if len(parts) == 1:
        return parts[0]
    schema = type(parts[0])
    spec = spec or merge_spec_for(schema)
    merged = _merge_models(list(parts), spec)
    from invoiceai.schema import Invoice

    if isinstance(merged, Invoice):
        findings = [finding for part in parts if isinstance(part, Invoice) for finding in part.normalization_findings]
        if findings:
            return cast("T", merged.with_normalization_findings(findings))
    return merged


def _merge_models(parts: list[T], spec: MergeSpec) -> T:
    schema = type(parts[0])
    values: dict[str, Any] = {}
    for name in schema.model_fields:
        candidates = [getattr(part, name) for part in parts]
        if name in spec.concatenate:
            values[name] = [item for value in candidates for item in (value or [])]
        elif name in spec.from_last:
            values[name] = next((value for value in reversed(candidates) if has_value(value)), candidates[-1])
        else:
            values[name] = _first(candidates, spec)
    # The parts were validated already; constructing skips re-running normalisation on them.
    return schema.model_construct(_fields_set=_fields_set(parts), **values)


def _first(candidates: list[Any], spec: MergeSpec) -> Any:
    from pydantic import BaseModel

    present = [value for value in candidates if has_value(value)]
    if not present:
        return candidates[0]
    first = present[0]
    if isinstance(first, BaseModel) and len(present) > 1 and all(type(value) is type(first) for value in present):
        # A party or address seen on several chunks: the first chunk's, completed by later ones.
        return _merge_models(present, MergeSpec())
    return first


def _fields_set(parts: Sequence[BaseModel]) -> set[str]:
    names: set[str] = set()
    for part in parts:
        names |= part.model_fields_set
    return names


def has_value(value: Any) -> bool:
    """Tells whether a chunk's answer has ``value``: not ``None``, not empty, a part with some value set."""
    from pydantic import BaseModel

    if value is None:
        return False
    if isinstance(value, (list, tuple, str)):
        return len(value) > 0
    if isinstance(value, BaseModel):
        return any(has_value(getattr(value, name)) for name in type(value).model_fields)
    return True


def _is_list_annotation(annotation: Any) -> bool:
    import typing

    origin = typing.get_origin(annotation)
    if origin in (list, tuple, Sequence):
        return True
    return any(_is_list_annotation(arg) for arg in typing.get_args(annotation)) if origin is not None else False
