"""ImageBudget: every size it hands out fits the budget."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from invoiceai.pages import ImageBudget

sides = st.integers(1, 100_000)


@given(sides, sides, st.integers(16, 4000), st.integers(16, 5_000_000), st.booleans())
def test_fit_is_always_within_the_budget(width: int, height: int, edge: int, pixels: int, upscale: bool) -> None:
    budget = ImageBudget(max_long_edge=edge, max_pixels=pixels)
    fitted_width, fitted_height = budget.fit(width, height, allow_upscale=upscale)
    assert fitted_width >= 1
    assert fitted_height >= 1
    assert budget.contains(fitted_width, fitted_height)
    if not upscale:
        assert fitted_width <= width
        assert fitted_height <= height


def test_slivers_shrink_their_long_side_to_fit_the_area() -> None:
    assert ImageBudget(max_long_edge=2000, max_pixels=256).fit(1, 901) == (1, 256)


def test_capped_budget_shrinks_area_with_the_edge() -> None:
    capped = ImageBudget().capped(784)
    assert capped.max_long_edge == 784
    assert capped.max_pixels == 287_500
