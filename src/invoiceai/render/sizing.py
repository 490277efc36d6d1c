"""Pixel sizes that fit an :class:`~invoiceai.pages.ImageBudget` in every case."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from invoiceai.pages import ImageBudget

__all__ = ["fit_size"]


def fit_size(
    budget: ImageBudget, width: float, height: float, *, allow_upscale: bool, max_scale: float | None = None
) -> tuple[int, int]:
    """Returns the largest integer size of a ``width`` x ``height`` picture within ``budget``.

    Like :meth:`ImageBudget.fit`, both sides are scaled alike and floored, so the aspect ratio
    holds to within a pixel. Unlike it, the result is always inside the budget: when a sliver
    (say 1 x 900) has its short side rounded *up* to one pixel, the area can exceed
    ``max_pixels``, and the long side is then shortened to make room.

    Args:
        budget: The pixel budget.
        width: Source width (pixels, or points for PDF pages).
        height: Source height.
        allow_upscale: Whether the result may be larger than the source (vector pages).
        max_scale: An upper bound on the scale, if any.

    Returns:
        ``(width, height)`` in whole pixels, each at least 1.
    """
    scale = budget.scale_for(width, height)
    if not allow_upscale:
        scale = min(scale, 1.0)
    if max_scale is not None:
        scale = min(scale, max_scale)
    fitted_width = max(1, min(budget.long_edge, math.floor(width * scale)))
    fitted_height = max(1, min(budget.long_edge, math.floor(height * scale)))
    if fitted_width * fitted_height > budget.max_pixels:
        if fitted_width >= fitted_height:
            fitted_width = max(1, budget.max_pixels // fitted_height)
        else:
            fitted_height = max(1, budget.max_pixels // fitted_width)
    return fitted_width, fitted_height
