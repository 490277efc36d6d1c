"""Pixel sizes that fit an :class:`~invoiceai.pages.ImageBudget` in every case."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from invoiceai.pages import ImageBudget

__all__ = ["fit_size"]


def fit_size(
    budget: ImageBudget, width: float, height: float, *, allow_upscale: bool, max_scale: float | None = None
) -> tuple[int, int]:
    """Returns the largest integer size of a ``width`` x ``height`` picture within ``budget``.

    The renderers' spelling of :meth:`ImageBudget.fit`, which holds the one implementation.

    Args:
        budget: The pixel budget.
        width: Source width (pixels, or points for PDF pages).
        height: Source height.
        allow_upscale: Whether the result may be larger than the source (vector pages).
        max_scale: An upper bound on the scale, if any.

    Returns:
        ``(width, height)`` in whole pixels, each at least 1.
    """
    return budget.fit(width, height, allow_upscale=allow_upscale, max_scale=max_scale)
