"""Line items in their rows: an item's values must be printed in the item's own row of the table.

A price found anywhere on the page proves little: the same ``6,00`` may be printed in three
rows, and a model that reads a value from the row below gives a value that is on the page. So
each line item gets an *anchor*: the one place where its description (or article number) is
printed. The item's *band* runs from the previous item's anchor to the next item's anchor,
without either (a row may hold several lines: a description over two lines, the numbers on the
line above or below it); the first and last items' bands reach as far as the items' usual
distance. Values of the item are then kept to matches inside
the band; a row value (quantity, price, amount, ids) printed only outside it is not grounded,
another value (a tax rate printed in the summary only) is grounded with medium confidence.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from invoiceai.provenance.model import Match

__all__ = ["ROW_VALUES", "Band", "item_bands"]

ANCHORS = ("description", "seller_item_id", "buyer_item_id", "standard_item_id")
ROW_VALUES = frozenset(
    {"description", "seller_item_id", "buyer_item_id", "standard_item_id", "quantity", "unit_price", "gross_price",
     "amount", "allowance_amount", "charge_amount"}
)  # fmt: skip
"""The values printed in an item's row when they are printed at all."""


@dataclasses.dataclass(frozen=True)
class Band:
    """The part of a page an item's row takes: ``top`` to ``bottom`` (page units, 0 at the top)."""

    page: int
    top: float
    bottom: float
    anchor: str

    def holds(self, match: Match) -> bool:
        """Tells whether the middle of ``match`` is inside the band."""
        middle = (match.box.y0 + match.box.y1) / 2
        return match.page == self.page and self.top <= middle < self.bottom


def item_bands(items: Sequence[Mapping[str, Sequence[Match]]], line_heights: Mapping[int, float]) -> list[Band | None]:
    """Each item's band, or ``None`` for an item without an anchor.

    Args:
        items: Per line item, in order: its field names (``description``, ``amount``) and matches.
        line_heights: Each page's typical word height.
    """
    if len(items) < 2:
        return [None] * len(items)  # a lone item has no other row to take a value from
    anchors = _anchors(items)
    following = _next_anchors(anchors, line_heights)
    steps = [after[1].box.y0 - here[1].box.y0 for here, after in zip(anchors, following, strict=True) if here and after]
    usual = sorted(steps)[len(steps) // 2] if steps else 0.0
    lead = _lead(items, anchors, line_heights)
    bands: list[Band | None] = []
    previous: Match | None = None
    for here, after in zip(anchors, following, strict=True):
        if here is None:
            bands.append(None)
            continue
        name, anchor = here
        line = line_heights.get(anchor.page, 0.02)
        # The first and last items reach as far as the usual row, and at least a line past their anchor.
        step = max(usual, anchor.box.y1 - anchor.box.y0 + line)
        # The rows' numbers are printed `lead` above such anchors (0: on the same line).
        if name in lead and (after is None or after[0] in lead):
            top = anchor.box.y0 + lead[name] - 0.35 * line
            bottom = anchor.box.y0 + lead[name] + step
            if after is not None:
                bottom = after[1].box.y0 + lead[after[0]] - 0.35 * line
        else:
            above = previous is not None and previous.page == anchor.page and previous.box.y1 <= anchor.box.y0
            top = previous.box.y1 if above and previous is not None else anchor.box.y0 - step
            bottom = after[1].box.y0 if after is not None else anchor.box.y0 + step
        bands.append(Band(anchor.page, top, bottom, name))
        previous = anchor
    return bands


def _anchors(items: Sequence[Mapping[str, Sequence[Match]]]) -> list[tuple[str, Match] | None]:
    """Each item's anchor: its first :data:`ANCHORS` value printed once, or once per item that shares it.

    Items with the same description (two rows of "Gelierzucker Extra 250g") share its matches;
    when there are as many matches as such items, they take them in printed order.
    """
    anchors: list[tuple[str, Match] | None] = [None] * len(items)
    for name in ANCHORS:
        sharing: dict[tuple[Match, ...], list[int]] = {}
        for position, item in enumerate(items):
            if anchors[position] is None and item.get(name):
                sharing.setdefault(tuple(item[name]), []).append(position)
        for matches, positions in sharing.items():
            if len(matches) == len(positions):
                ordered = sorted(matches, key=lambda match: (match.page, match.box.y0, match.box.x0))
                for position, match in zip(positions, ordered, strict=True):
                    anchors[position] = (name, match)
    return anchors


def _lead(
    items: Sequence[Mapping[str, Sequence[Match]]], anchors: list[tuple[str, Match] | None],
    line_heights: Mapping[int, float],
) -> dict[str, float]:  # fmt: skip
    """How far above its anchor a row's amounts are printed (``0``: on the anchor's line or below), by anchor.

    Taken from the items whose amount (or unit price) is printed once within three lines of their
    anchor, for each kind of anchor apart (a description and a GTIN under it lead differently).
    """
    offsets: dict[str, list[float]] = {}
    for item, here in zip(items, anchors, strict=True):
        if here is None:
            continue
        name, anchor = here
        reach = 3 * line_heights.get(anchor.page, 0.02)
        for field in ("amount", "unit_price"):
            near = [
                match for match in item.get(field, ())
                if match.page == anchor.page and abs(match.box.y0 - anchor.box.y0) <= reach
            ]  # fmt: skip
            if len(near) == 1:
                offsets.setdefault(name, []).append(near[0].box.y0 - anchor.box.y0)
    return {name: min(sorted(found)[len(found) // 2], 0.0) for name, found in offsets.items()}


def _next_anchors(
    anchors: list[tuple[str, Match] | None], line_heights: Mapping[int, float]
) -> list[tuple[str, Match] | None]:
    """For each anchor, the next item's anchor when it is printed further down the same page."""
    following: list[tuple[str, Match] | None] = []
    for position, here in enumerate(anchors):
        found = None
        if here is not None:
            line = line_heights.get(here[1].page, 0.02)
            for later in anchors[position + 1 :]:
                if later is None:
                    continue
                if later[1].page == here[1].page and later[1].box.y0 > here[1].box.y0 + 0.5 * line:
                    found = later
                break
        following.append(found)
    return following
