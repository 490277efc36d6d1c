"""Token-bucket rate limits for the fake Claude API, with the headers the real API sends.

The real API limits requests, input tokens and output tokens per minute with token buckets
that refill continuously, reports them on every answer and refuses what does not fit with a
429 and ``retry-after``. The fake does the same, at any scale (a bucket of 4 requests refilling
at 8 per second makes a test of a few seconds)::

    from invoiceai.testing import FakeClaudeAPI, RateLimits, TokenBucket

    api = FakeClaudeAPI(rate_limits=RateLimits(requests=TokenBucket(capacity=4, per_second=8)))

Every ``POST /v1/messages`` answer (a 429 included) then carries, for each configured bucket::

    anthropic-ratelimit-requests-limit: 4                         # capacity
    anthropic-ratelimit-requests-remaining: 3                     # left after this request
    anthropic-ratelimit-requests-reset: 2026-05-01T12:00:00.125Z  # when it is full again

A request is charged when it arrives: 1 request, its estimated input tokens (the same estimate
as the fake's ``usage``), and its ``max_tokens`` of output tokens (charged up front, as the real
API does; not refunded). A request that does not fit in every bucket is refused with
``429 rate_limit_error``, the real body shape, ``retry-after`` in whole seconds (rounded up, at
least 1) and is not charged. Buckets start full.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["RateLimiter", "RateLimits", "TokenBucket", "Verdict"]


@dataclasses.dataclass(frozen=True)
class TokenBucket:
    """One limit: ``capacity`` units, refilled continuously at ``per_second``.

    A per-minute limit of N is ``TokenBucket(N, N / 60)``.
    """

    capacity: float
    per_second: float

    def __post_init__(self) -> None:
        if self.capacity <= 0 or self.per_second <= 0:
            raise ValueError("a token bucket needs a positive capacity and refill rate")


@dataclasses.dataclass(frozen=True)
class RateLimits:
    """The fake account's limits; a bucket left ``None`` is not limited (and not reported).

    Attributes:
        requests: Requests.
        input_tokens: Input tokens (estimated from the request, as the fake's ``usage``).
        output_tokens: Output tokens, charged from ``max_tokens`` up front.
        clock: Monotonic seconds the buckets refill by (a test's fake clock works).
        wall: Epoch seconds the ``-reset`` times are written in.
    """

    requests: TokenBucket | None = None
    input_tokens: TokenBucket | None = None
    output_tokens: TokenBucket | None = None
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time

    def buckets(self) -> dict[str, TokenBucket]:
        """Returns the configured buckets by header name (``requests``, ``input-tokens``, ``output-tokens``)."""
        named = {"requests": self.requests, "input-tokens": self.input_tokens, "output-tokens": self.output_tokens}
        return {name: bucket for name, bucket in named.items() if bucket is not None}


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What the limiter decided for one request.

    Attributes:
        admitted: Whether it fits (and was charged).
        retry_after: Whole seconds to send as ``retry-after`` when refused.
        exceeded: The bucket that refused it.
        headers: The ``anthropic-ratelimit-*`` headers for the answer.
    """

    admitted: bool
    retry_after: int = 0
    exceeded: str = ""
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)


class RateLimiter:
    """The buckets' state. Thread-safe.

    Attributes:
        rejections: Requests refused so far.
    """

    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits
        self._buckets = limits.buckets()
        now = limits.clock()
        self._levels: dict[str, tuple[float, float]] = {name: (b.capacity, now) for name, b in self._buckets.items()}
        self._lock = threading.Lock()
        self.rejections = 0

    def admit(self, costs: Mapping[str, float]) -> Verdict:
        """Charges ``costs`` (by bucket name) if every bucket has room, else refuses."""
        with self._lock:
            now, wall = self.limits.clock(), self.limits.wall()
            levels = {name: self._level(name, now) for name in self._buckets}
            short = {
                name: (min(costs.get(name, 0.0), bucket.capacity) - levels[name]) / bucket.per_second
                for name, bucket in self._buckets.items()
                if levels[name] < min(costs.get(name, 0.0), bucket.capacity)
            }
            if short:
                self.rejections += 1
                exceeded = max(short, key=lambda name: short[name])
                wait = max(1, math.ceil(short[exceeded] - 1e-9))
                return Verdict(False, wait, exceeded, self._headers(levels, wall))
            for name in self._buckets:
                levels[name] -= costs.get(name, 0.0)
                self._levels[name] = (levels[name], now)
            return Verdict(True, headers=self._headers(levels, wall))

    def refusal_message(self, verdict: Verdict) -> str:
        """Returns the 429's ``error.message``, worded like the real API's."""
        bucket = self._buckets[verdict.exceeded]
        unit = verdict.exceeded.replace("-", " ")
        return (
            f"This request would exceed your organization's rate limit of {bucket.capacity:g} {unit} "
            f"(fake bucket refilling {bucket.per_second:g} per second). Please retry after {verdict.retry_after} s."
        )

    def _level(self, name: str, now: float) -> float:
        level, at = self._levels[name]
        bucket = self._buckets[name]
        return min(bucket.capacity, level + bucket.per_second * max(0.0, now - at))

    def _headers(self, levels: Mapping[str, float], wall: float) -> dict[str, str]:
        headers: dict[str, str] = {}
        for name, bucket in self._buckets.items():
            # Whole units left, and the time a bucket at that level would be full: the two agree.
            remaining = math.floor(max(0.0, levels[name]))
            full_at = wall + (bucket.capacity - remaining) / bucket.per_second
            headers[f"anthropic-ratelimit-{name}-limit"] = f"{bucket.capacity:g}"
            headers[f"anthropic-ratelimit-{name}-remaining"] = str(remaining)
            headers[f"anthropic-ratelimit-{name}-reset"] = _rfc3339(full_at)
        return headers


def _rfc3339(epoch: float) -> str:
    moment = datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def request_costs(body: Mapping[str, Any], input_tokens: int) -> dict[str, float]:
    """Returns what one Messages request body is charged, by bucket name."""
    max_tokens = body.get("max_tokens", 0)
    output = float(max_tokens) if isinstance(max_tokens, (int, float)) and not isinstance(max_tokens, bool) else 0.0
    return {"requests": 1.0, "input-tokens": float(input_tokens), "output-tokens": output}
