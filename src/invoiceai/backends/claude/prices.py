"""What Claude tokens cost, in US dollars, and the arithmetic that turns usage into money.

Prices change; the table is one dict that callers can override per backend
(``ClaudeBackend(prices={"claude-sonnet-5": Price("2", "10")})``) or as a whole. Money is
:class:`~decimal.Decimal`. Multipliers follow Anthropic's pricing: prompt-cache writes (5-minute
TTL) cost 1.25x the input price, cache reads 0.1x, and the Message Batches API halves everything.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, TypedDict

from invoiceai.backends.claude.models import canonical_model_id

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "BATCH_DISCOUNT",
    "CACHE_READ_MULTIPLIER",
    "CACHE_WRITE_MULTIPLIER",
    "DEFAULT_PRICES",
    "Price",
    "PriceTable",
    "TokenCounts",
    "token_cost",
]

CACHE_WRITE_MULTIPLIER = Decimal("1.25")
CACHE_READ_MULTIPLIER = Decimal("0.1")
BATCH_DISCOUNT = Decimal("0.5")
_PER_TOKEN = Decimal(1_000_000)


class _RequiredCounts(TypedDict):
    input_tokens: int
    output_tokens: int


class TokenCounts(_RequiredCounts, total=False):
    """The keyword arguments of :func:`token_cost` besides the price: one request's tokens.

    Attributes:
        input_tokens: Uncached input tokens.
        output_tokens: Output tokens.
        cache_read_input_tokens: Input tokens read from the prompt cache.
        cache_creation_input_tokens: Input tokens written to the prompt cache.
        batch: Priced as Message Batches (half price).
    """

    cache_read_input_tokens: int
    cache_creation_input_tokens: int
    batch: bool


@dataclasses.dataclass(frozen=True, init=False)
class Price:
    """USD per million tokens.

    Attributes:
        input: Price of one million uncached input tokens.
        output: Price of one million output tokens.
    """

    input: Decimal
    output: Decimal

    def __init__(self, input: Decimal | str | int, output: Decimal | str | int) -> None:
        # Accept strings so that "2.5" never passes through a float.
        object.__setattr__(self, "input", Decimal(input))
        object.__setattr__(self, "output", Decimal(output))
        if self.input < 0 or self.output < 0:
            raise ValueError(f"prices must not be negative: {self}")


DEFAULT_PRICES: Mapping[str, Price] = {
    "claude-opus-5-5": Price("4", "20"),
    "claude-sonnet-5": Price("2", "10"),
    "claude-haiku-4-5": Price("1", "5"),
    "claude-fable-5-1": Price("10", "50"),
}
"""Standard-tier list prices, USD per million tokens, for the models whose prices we know."""


def token_cost(
    price: Price,
    *,
    input_tokens: int,
    output_tokens: int,
    cache_read_input_tokens: int = 0,
    cache_creation_input_tokens: int = 0,
    batch: bool = False,
) -> Decimal:
    """Returns the USD cost of one request's tokens at ``price``."""
    total = (
        Decimal(input_tokens) * price.input
        + Decimal(cache_creation_input_tokens) * price.input * CACHE_WRITE_MULTIPLIER
        + Decimal(cache_read_input_tokens) * price.input * CACHE_READ_MULTIPLIER
        + Decimal(output_tokens) * price.output
    ) / _PER_TOKEN
    return total * BATCH_DISCOUNT if batch else total


class PriceTable:
    """Prices per model, looked up by canonical model id.

    Args:
        overrides: Prices that replace or add to :data:`DEFAULT_PRICES`, keyed by model id.
        defaults: The base table (pass ``{}`` to use only ``overrides``).
    """

    def __init__(
        self,
        overrides: Mapping[str, Price] | None = None,
        *,
        defaults: Mapping[str, Price] = DEFAULT_PRICES,
    ) -> None:
        merged = {canonical_model_id(model): price for model, price in defaults.items()}
        merged.update({canonical_model_id(model): price for model, price in (overrides or {}).items()})
        self._prices = merged

    def __repr__(self) -> str:
        return f"PriceTable({sorted(self._prices)})"

    def price(self, model: str) -> Price | None:
        """Returns the price of ``model`` (any spelling of its id), or ``None`` if unknown."""
        return self._prices.get(canonical_model_id(model))

    def cost(self, model: str, **tokens: Unpack[TokenCounts]) -> Decimal | None:
        """Returns the USD cost of one request's tokens (:func:`token_cost`), or ``None`` for an unpriced model."""
        price = self.price(model)
        return None if price is None else token_cost(price, **tokens)
