"""Token usage and cost, summed over every attempt an extraction made."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

__all__ = ["Usage"]


@dataclasses.dataclass(frozen=True, slots=True)
class Usage:
    """What an extraction consumed.

    Attributes:
        input_tokens: Uncached input tokens.
        output_tokens: Output tokens.
        cache_read_input_tokens: Input tokens read from the prompt cache (billed at 0.1x).
        cache_creation_input_tokens: Input tokens written to the prompt cache (billed at 1.25x).
        requests: API requests made, including retries and re-asks.
        cost_usd: Cost in US dollars from the price table in effect.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    requests: int = 0
    cost_usd: Decimal = Decimal(0)

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_input_tokens=self.cache_read_input_tokens + other.cache_read_input_tokens,
            cache_creation_input_tokens=self.cache_creation_input_tokens + other.cache_creation_input_tokens,
            requests=self.requests + other.requests,
            cost_usd=self.cost_usd + other.cost_usd,
        )

    @property
    def total_input_tokens(self) -> int:
        """Every input token, cached or not."""
        return self.input_tokens + self.cache_read_input_tokens + self.cache_creation_input_tokens
