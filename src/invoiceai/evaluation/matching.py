"""Pairing the rows of a list (line items, tax lines) between the label and the extraction.

Rows are matched by what they say, never by position: a model that reads the lines in another
order, drops one or adds one still gets credit for the others. Each pair of rows gets a
similarity between 0 and 1 (:func:`row_similarity`), the pairing with the highest total
similarity is chosen (the Hungarian algorithm, :func:`best_assignment`), and pairs below
:data:`MATCH_THRESHOLD` are dropped: those rows count as missed (label) and extra (extraction).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from invoiceai.evaluation.fields import leaves

__all__ = ["MATCH_THRESHOLD", "best_assignment", "match_rows", "row_similarity"]

MATCH_THRESHOLD = 0.5
"""The least similarity for two rows to be the same row: at least half of what they say agrees.

A line with one wrong amount out of description, quantity, unit price, amount and tax rate
still matches (similarity about 0.7); two different lines that share only a tax rate do not."""

_WEIGHTS = {"description": 2.0, "amount": 2.0, "taxable_amount": 2.0, "tax_amount": 2.0}
"""Fields that identify a row more than the others do."""


def row_similarity(truth: Any, predicted: Any) -> float:
    """How alike two rows are: the weighted share of their set fields that agree.

    Text counts partially (``difflib`` ratio of the normalised text), so a description with
    one word misread still pulls its row towards the right partner; every other kind counts
    only when equal.
    """
    expected = {leaf.path: leaf for leaf in leaves(truth, lists=True)}
    got = {leaf.path: leaf for leaf in leaves(predicted, lists=True)}
    agree = weight_sum = 0.0
    for path, leaf in expected.items():
        other = got[path].value if path in got else None
        if leaf.value is None and other is None:
            continue
        weight = _WEIGHTS.get(path.rsplit(".", 1)[-1], 1.0)
        weight_sum += weight
        if leaf.value is None or other is None:
            continue
        if leaf.kind == "text":
            agree += weight * difflib.SequenceMatcher(None, str(leaf.value), str(other)).ratio()
        elif leaf.value == other:
            agree += weight
    return agree / weight_sum if weight_sum else 0.0


def best_assignment(scores: Sequence[Sequence[float]]) -> list[tuple[int, int]]:
    """The pairing of rows to columns with the highest total score (Hungarian algorithm).

    Args:
        scores: A rectangular matrix, ``scores[row][column]``.

    Returns:
        ``(row, column)`` pairs, at most one per row and per column, sorted by row.
    """
    rows = len(scores)
    columns = len(scores[0]) if rows else 0
    if not rows or not columns:
        return []
    transposed = rows > columns
    if transposed:  # the algorithm below wants no more rows than columns
        scores = [list(column) for column in zip(*scores, strict=True)]
        rows, columns = columns, rows
    pairs = _hungarian([[-value for value in row] for row in scores], rows, columns)
    if transposed:
        pairs = [(column, row) for row, column in pairs]
    return sorted(pairs)


def _hungarian(cost: list[list[float]], rows: int, columns: int) -> list[tuple[int, int]]:
    # The O(n^2 m) shortest-augmenting-path form with potentials; 1-based, column 0 is a sentinel.
    infinity = float("inf")
    u = [0.0] * (rows + 1)
    v = [0.0] * (columns + 1)
    owner = [0] * (columns + 1)  # owner[j]: the row assigned to column j
    way = [0] * (columns + 1)
    for row in range(1, rows + 1):
        owner[0] = row
        column = 0
        least = [infinity] * (columns + 1)
        used = [False] * (columns + 1)
        while owner[column] != 0:
            used[column] = True
            current, delta, nearest = owner[column], infinity, 0
            for j in range(1, columns + 1):
                if used[j]:
                    continue
                reduced = cost[current - 1][j - 1] - u[current] - v[j]
                if reduced < least[j]:
                    least[j], way[j] = reduced, column
                if least[j] < delta:
                    delta, nearest = least[j], j
            for j in range(columns + 1):
                if used[j]:
                    u[owner[j]] += delta
                    v[j] -= delta
                else:
                    least[j] -= delta
            column = nearest
        while column:
            previous = way[column]
            owner[column] = owner[previous]
            column = previous
    return [(owner[j] - 1, j - 1) for j in range(1, columns + 1) if owner[j]]


def match_rows(
    truth: Sequence[Any], predicted: Sequence[Any], *, threshold: float = MATCH_THRESHOLD
) -> list[tuple[int, int]]:
    """Pairs label rows with extracted rows: ``(truth index, predicted index)``, sorted.

    Rows left out of every pair are missed (label) or extra (extraction).
    """
    scores = [[row_similarity(expected, got) for got in predicted] for expected in truth]
    return [(i, j) for i, j in best_assignment(scores) if scores[i][j] >= threshold]
