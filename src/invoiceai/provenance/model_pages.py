"""The page the model named for each value: where grounding looks first, never taken on trust.

A multi-page request asks the model for the page of each value (cheap: one short list in its
answer). Boxes still come from our own matching of the value against the page's words, so the
model's page only decides between places: a value printed on the page the model named gets
that page's box, even when it is printed on another page too; a value printed only on another
page is grounded there, with evidence that the model named another page and confidence one step
lower (the model may have misread which page, or read the value from the wrong place); a value
printed nowhere is ungrounded as without a page. A page that was not read is ignored, and the
evidence says so. A page without words (a scan without OCR) gets the model's page as its
page-level provenance.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from invoiceai.provenance.model import Confidence, Grounding, Match

__all__ = ["ModelPages"]

_PARENT = re.compile(r"(?:\.[^.\[\]]+|\[\d+\])$")
_LOWER: dict[Confidence, Confidence] = {"high": "medium", "medium": "low", "low": "low"}


class ModelPages:
    """The model's pages, checked against the pages that were read.

    Args:
        named: The page of each value by path; a part's path (``seller``, ``line_items[3]``)
            stands for every value under it, and ``""`` for every value. Pages are the
            document's 1-based page numbers.
        read: The page numbers whose words were read (or that were sent without words).
    """

    def __init__(self, named: Mapping[str, int], read: Sequence[int]) -> None:
        self._named = dict(named)
        self._read = frozenset(read)

    def named(self, path: str) -> int | None:
        """The page the model named for ``path`` (or a part holding it), whether or not it was read."""
        while True:
            if path in self._named:
                return self._named[path]
            if not path:
                return None
            parent = _PARENT.search(path)
            path = path[: parent.start()] if parent is not None else ""

    def page(self, path: str) -> int | None:
        """The page the model named for ``path`` when it is one of the pages read, else ``None``."""
        page = self.named(path)
        return page if page in self._read else None

    def first(self, path: str, matches: Sequence[Match]) -> list[Match]:
        """``matches`` with those on the model's page first (each group in its own order)."""
        page = self.page(path)
        if page is None:
            return list(matches)
        return [match for match in matches if match.page == page] + [match for match in matches if match.page != page]

    def judge(
        self, path: str, grounding: Grounding, matches: Sequence[Match], confidence: Confidence, evidence: Sequence[str]
    ) -> tuple[Confidence, tuple[str, ...]]:
        """The value's confidence and evidence once the model's page is weighed.

        Args:
            path: The value's path.
            grounding: Its grounding.
            matches: Its matches, ordered by :meth:`first`.
            confidence: Its confidence from the other evidence.
            evidence: That evidence.
        """
        named = self.named(path)
        if named is None:
            return confidence, tuple(evidence)
        if named not in self._read:
            shown = f"page {named}" if named > 0 else "a page"
            return confidence, (*evidence, f"the model named {shown}, which is not among the pages read; ignored")
        if grounding in ("grounded", "approximate") and matches and matches[0].page != named:
            # Printed, but not where the model says it read it: the value may be taken from elsewhere.
            return _LOWER[confidence], (*evidence, f"the model named page {named}")
        if grounding in ("ungrounded", "unknown"):
            return confidence, (*evidence, f"the model named page {named}")
        return confidence, tuple(evidence)
