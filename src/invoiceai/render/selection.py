"""Page selections: ``"1-3,7"`` or ``[1, 2, 3, 7]`` (1-based, as people count pages)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Union

from invoiceai.errors import EmptyDocumentError, PageSelectionError

if TYPE_CHECKING:
    from invoiceai.documents import Document

__all__ = ["PageSelection", "Pages", "SelectedPages", "parse_pages"]

Pages = Union[str, Sequence[int], "PageSelection", None]
"""What a ``pages=`` argument accepts; ``None`` means every page."""

_TOKEN = re.compile(r"^(\d+)(?:\s*-\s*(\d*))?$")
# No document has a billion pages; longer numbers would also trip int()'s digit limit.
_MAX_DIGITS = 9


@dataclasses.dataclass(frozen=True, slots=True)
class PageSelection:
    """A parsed page selection, resolved against a page count with :meth:`resolve`.

    Attributes:
        ranges: Inclusive 1-based ``(first, last)`` ranges; ``last`` is ``None`` for an open
            range such as ``"5-"`` (page 5 to the end). Empty means every page.
        text: The selection as written, for messages.
    """

    ranges: tuple[tuple[int, int | None], ...] = ()
    text: str = "all"

    def resolve(self, page_count: int, *, document_id: str | None = None) -> tuple[int, ...]:
        """Returns the selected 0-based page indices, in document order, without duplicates.

        Args:
            page_count: Pages (or frames) in the document.
            document_id: For error context.

        Returns:
            The indices.

        Raises:
            EmptyDocumentError: The document has no pages.
            PageSelectionError: A selected page is past the end of the document.
        """
        if page_count <= 0:
            raise EmptyDocumentError(
                "The document has no pages; check that it is not blank or damaged.", document_id=document_id
            )
        if not self.ranges:
            return tuple(range(page_count))
        chosen: set[int] = set()
        for first, last in self.ranges:
            end = page_count if last is None else last
            if first > page_count or end > page_count:
                raise PageSelectionError(
                    f"pages={self.text!r} selects page {max(first, end)}, but the document has only "
                    f"{page_count} page{'s' if page_count != 1 else ''}. Pages are numbered from 1.",
                    document_id=document_id,
                )
            chosen.update(range(first - 1, end))
        return tuple(sorted(chosen))


def parse_pages(pages: Pages) -> PageSelection:
    """Parses a ``pages=`` argument.

    Args:
        pages: ``None`` (every page); a string of comma-separated 1-based numbers and ranges
            such as ``"1-3,7"`` or ``"5-"`` (page 5 to the end); a sequence of 1-based page
            numbers; or an already parsed :class:`PageSelection`.

    Returns:
        The selection.

    Raises:
        PageSelectionError: The selection does not parse, is empty, has a page below 1 or a
            range that runs backwards.
    """
    if pages is None:
        return PageSelection()
    if isinstance(pages, PageSelection):
        return pages
    if isinstance(pages, str):
        return _parse_text(pages)
    if isinstance(pages, (bytes, bytearray)) or not isinstance(pages, Sequence):
        raise PageSelectionError(
            f"pages= must be a string like '1-3,7' or a list of page numbers, not {type(pages).__name__}."
        )
    if not pages:
        raise PageSelectionError("pages= is an empty list; pass None to select every page.")
    ranges: list[tuple[int, int | None]] = []
    for number in pages:
        if isinstance(number, bool) or not isinstance(number, int):
            raise PageSelectionError(f"pages= must hold whole page numbers, got {number!r}.")
        if number < 1:
            raise PageSelectionError(f"pages= has page {number}; pages are numbered from 1.")
        ranges.append((number, number))
    return PageSelection(ranges=tuple(ranges), text=",".join(str(number) for number in pages))


def _parse_text(text: str) -> PageSelection:
    stripped = text.strip()
    if not stripped:
        raise PageSelectionError("pages= is an empty string; pass None to select every page, or e.g. '1-3,7'.")
    if stripped.lower() == "all":
        return PageSelection()
    ranges: list[tuple[int, int | None]] = []
    for token in stripped.split(","):
        match = _TOKEN.match(token.strip())
        if not match:
            raise PageSelectionError(
                f"pages={text!r} does not parse at {token.strip()!r}; write page numbers and ranges "
                "separated by commas, e.g. '1-3,7' or '5-' (page 5 to the end)."
            )
        first = _page_number(match.group(1), text)
        has_dash = "-" in token
        last: int | None = _page_number(match.group(2), text) if match.group(2) else (None if has_dash else first)
        if first < 1:
            raise PageSelectionError(f"pages={text!r} has page 0; pages are numbered from 1.")
        if last is not None and last < first:
            raise PageSelectionError(f"pages={text!r} has the backwards range {first}-{last}; write {last}-{first}.")
        ranges.append((first, last))
    return PageSelection(ranges=tuple(ranges), text=text)


def _page_number(digits: str, text: str) -> int:
    significant = digits.lstrip("0") or "0"
    if len(significant) > _MAX_DIGITS:
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise PageSelectionError(
            f"pages={shown!r} names page {significant[:_MAX_DIGITS]}..., past the end of any document. "
            "Pages are numbered from 1."
        )
    return int(significant)


class SelectedPages:
    """What the built-in page sources share: a document and its selected pages (or frames).

    Attributes:
        document: The loaded document.
        indices: The selected pages, 0-based, in document order.
    """

    document: Document
    indices: tuple[int, ...]

    @property
    def document_id(self) -> str:
        """SHA-256 of the document's bytes, hex."""
        return self.document.document_id

    @property
    def page_count(self) -> int:
        """How many pages (or frames) ``render`` yields."""
        return len(self.indices)

    @property
    def page_numbers(self) -> tuple[int, ...]:
        """The selected pages (or frames), 1-based."""
        return tuple(index + 1 for index in self.indices)
