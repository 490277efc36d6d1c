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
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from invoiceai.schema.invoice import TOTAL_FIELDS

if TYPE_CHECKING:
    from pydantic import BaseModel

    from invoiceai.backends.base import T
    from invoiceai.pages import ImageBudget

__all__ = ["INVOICE_MERGE", "MergeSpec", "RequestLimits", "budget_for_images", "merge_parts", "plan_chunks"]


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


def plan_chunks(page_bytes: Sequence[int], limits: RequestLimits) -> list[range]:
    """Splits pages into runs of consecutive indexes that each fit in one request.

    Args:
        page_bytes: Encoded size of each page's payload (image bytes, text bytes), in order.
        limits: The request limits.

    Returns:
        Ranges of page indexes covering every page once, in order. A single page larger than
        a request is returned alone (the API will reject it with a clear error).
    """
    count = len(page_bytes)
    if count == 0:
        return []
    per_chunk = min(limits.max_pages, limits.max_images)
    # Balanced: 45 pages at 20 per chunk become 15+15+15, not 20+20+5.
    chunks = math.ceil(count / per_chunk)
    size = math.ceil(count / chunks)
    planned = [range(start, min(start + size, count)) for start in range(0, count, size)]
    room = max(1, limits.max_request_bytes - limits.reserved_bytes)
    result: list[range] = []
    for chunk in planned:
        start = chunk.start
        used = 0
        for index in chunk:
            encoded = _base64_size(page_bytes[index])
            if index > start and used + encoded > room:
                result.append(range(start, index))
                start, used = index, 0
            used += encoded
        result.append(range(start, chunk.stop))
    return result


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
            values[name] = next((value for value in reversed(candidates) if _has_value(value)), candidates[-1])
        else:
            values[name] = _first(candidates, spec)
    # The parts were validated already; constructing skips re-running normalisation on them.
    return schema.model_construct(_fields_set=_fields_set(parts), **values)


def _first(candidates: list[Any], spec: MergeSpec) -> Any:
    from pydantic import BaseModel

    present = [value for value in candidates if _has_value(value)]
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


def _has_value(value: Any) -> bool:
    from pydantic import BaseModel

    if value is None:
        return False
    if isinstance(value, (list, tuple, str)):
        return len(value) > 0
    if isinstance(value, BaseModel):
        return any(_has_value(getattr(value, name)) for name in type(value).model_fields)
    return True


def _is_list_annotation(annotation: Any) -> bool:
    import typing

    origin = typing.get_origin(annotation)
    if origin in (list, tuple, Sequence):
        return True
    return any(_is_list_annotation(arg) for arg in typing.get_args(annotation)) if origin is not None else False
