"""One rate-limit bucket as the client models it, and reading the ``anthropic-ratelimit-*`` headers.

No I/O and no locking: :class:`~invoiceai.backends.claude.pacing.Pacer` owns the buckets and
calls these under its lock.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
from collections.abc import Mapping

__all__ = ["BUCKETS", "TRANSIT_SECONDS", "Bucket", "BucketReading", "Cost", "parse_reset", "read_rate_limit_headers"]

BUCKETS = ("requests", "input-tokens", "output-tokens")
"""The buckets paced, by their header names (``anthropic-ratelimit-<name>-limit`` ...).

The combined ``tokens`` bucket some answers carry is the most restrictive of the other two: it
adds nothing once both are known, and is not read."""

_HEADER = "anthropic-ratelimit-"
# A bucket seen full says nothing about its refill: assume the per-minute limit it is named for.
_MINUTE = 60.0
_MARGIN_SECONDS = 0.001

TRANSIT_SECONDS = 0.1
"""How long after its admission a request is assumed to reach the server (and be charged there).

Requests admitted this close together may reach it in either order (separate connections)."""


@dataclasses.dataclass(frozen=True)
class Cost:
    """What one request takes from each bucket.

    Attributes:
        requests: Always 1.
        input_tokens: The request's estimated input tokens.
        output_tokens: Its ``max_tokens``: the API charges the output-token limit up front.
    """

    requests: int = 1
    input_tokens: int = 0
    output_tokens: int = 0

    def of(self, bucket: str) -> float:
        """Returns the cost in bucket ``bucket`` (one of :data:`BUCKETS`)."""
        if bucket == "requests":
            return float(self.requests)
        if bucket == "input-tokens":
            return float(self.input_tokens)
        return float(self.output_tokens)


@dataclasses.dataclass(frozen=True)
class BucketReading:
    """One bucket as one response's headers describe it.

    Attributes:
        limit: Capacity (``-limit``).
        remaining: Left after that request (``-remaining``).
        reset_in: Seconds until it is full again (``-reset``, from the client's wall clock), if given.
    """

    limit: float
    remaining: float
    reset_in: float | None = None

    def refill_rate(self) -> float | None:
        """Returns the refill per second the reading implies, if it implies one."""
        missing = self.limit - self.remaining
        if self.reset_in is None or self.reset_in <= 0.01 or missing < 1:
            return None
        return missing / self.reset_in


def parse_reset(value: str, *, wall_now: float) -> float | None:
    """Returns the seconds from ``wall_now`` until an RFC 3339 ``-reset`` time (``None`` if unreadable)."""
    try:
        moment = datetime.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp() - wall_now


def read_rate_limit_headers(headers: Mapping[str, str] | None, *, wall_now: float) -> dict[str, BucketReading]:
    """Returns the buckets a response's headers describe (none when absent or unreadable).

    Args:
        headers: Response headers (any case-insensitive mapping, e.g. ``httpx2.Headers``).
        wall_now: The client's wall-clock time, to turn ``-reset`` into seconds.
    """
    if not headers:
        return {}
    readings: dict[str, BucketReading] = {}
    for name in BUCKETS:
        limit, remaining = headers.get(f"{_HEADER}{name}-limit"), headers.get(f"{_HEADER}{name}-remaining")
        if limit is None or remaining is None:
            continue
        try:
            capacity, left = float(limit), float(remaining)
        except ValueError:
            continue  # a proxy's nonsense: pace without this bucket
        if not (math.isfinite(capacity) and math.isfinite(left)) or capacity <= 0:
            continue
        reset = headers.get(f"{_HEADER}{name}-reset")
        reset_in = parse_reset(reset, wall_now=wall_now) if reset else None
        readings[name] = BucketReading(capacity, max(0.0, min(left, capacity)), reset_in)
    return readings


@dataclasses.dataclass
class Bucket:
    """The client's model of one bucket: capacity, refill rate, and the level at a moment.

    The level may go below zero: requests admitted on a stale view are owed, and later ones wait
    until the refill has paid for them.
    """

    limit: float
    rate: float
    level: float
    at: float
    deficit: float = 0.0

    @classmethod
    def first(cls, reading: BucketReading, now: float) -> Bucket:
        """Returns the bucket as first seen (the level is set by :meth:`rebase` right after)."""
        bucket = cls(reading.limit, reading.limit / _MINUTE, reading.limit, now)
        bucket.relearn(reading)
        return bucket

    def relearn(self, reading: BucketReading) -> None:
        """Takes a reading's capacity, and its refill rate when it is the most precise one yet.

        ``-remaining`` is a whole number and ``-reset`` may be rounded, so a reading taken with
        the bucket nearly full says little about the rate; the one with the largest deficit
        (the bucket nearest empty) says the most, and is kept. The rate is never taken below
        the per-minute rate the limit is named for.
        """
        self.limit = reading.limit
        rate = reading.refill_rate()
        deficit = reading.limit - reading.remaining
        if rate is not None and deficit >= self.deficit:
            self.rate, self.deficit = max(rate, reading.limit / _MINUTE), deficit

    def level_at(self, now: float) -> float:
        """Returns the level at ``now``: refilled since :attr:`at`, never above the capacity."""
        return min(self.limit, self.level + self.rate * max(0.0, now - self.at))

    def wait_for(self, cost: float, now: float) -> float:
        """Returns the seconds until ``cost`` fits (0: now). A cost above the capacity fits a full bucket.

        The refill starts at :attr:`at` (which :meth:`take` may put a moment ahead).
        """
        need = min(cost, self.limit)
        short = need - self.level_at(now)
        if short <= 1e-9:
            return 0.0
        # A hair longer than exact: a server whose arithmetic rounds the other way would refuse
        # a request sent at the very moment the refill makes room.
        return max(0.0, self.at - now) + short / self.rate + _MARGIN_SECONDS if self.rate > 0 else math.inf

    def take(self, cost: float, now: float) -> None:
        """Charges ``cost`` at ``now``.

        The server charges a request when it arrives, up to :data:`TRANSIT_SECONDS` later. A
        bucket at its capacity refills nothing there meanwhile, while this model, charged at once,
        would count that refill: the refill starts once the request can have arrived instead.
        """
        level = self.level_at(now)
        missed = max(0.0, min(self.rate * TRANSIT_SECONDS, level + self.rate * TRANSIT_SECONDS - self.limit))
        self.level = level - cost
        self.at = max(self.at, now + (missed / self.rate if self.rate > 0 else 0.0))

    def refund(self, cost: float) -> None:
        """Gives back what a refused request was charged."""
        self.level = min(self.limit, self.level + cost)

    def rebase(self, remaining: float, *, since: float, later: float, maybe_later: float, now: float) -> None:
        """Re-bases the level on the server's ``remaining``, read at some moment since ``since``.

        The server charged the request and wrote ``remaining`` when the request arrived: after
        it was admitted at ``since`` (by the upload time: large pages take a while) and before
        now. The reading bounds the level now: at most ``remaining`` plus the refill since
        ``since`` less what was surely sent after it, at least ``remaining`` with no refill less
        what may have reached the server after it. The client's own count, charged at admission
        and so never behind the server, stays where it lies within those bounds: taking the upper
        one would count the upload time as refill, which a bucket paced to the last token (output
        tokens) then refuses.

        Args:
            remaining: What the server said was left once it had charged that request.
            since: When that request was admitted.
            later: What the requests admitted after it were charged (the server had not seen them).
            maybe_later: ``later`` plus what requests admitted just before it were charged
                (they may have reached the server second).
            now: The time now.
        """
        # At most: what was sent since was charged at once, then the refill, up to the capacity.
        highest = min(self.limit, remaining - later + self.rate * max(0.0, now - since))
        lowest = min(highest, remaining - maybe_later)
        self.level = min(highest, max(lowest, self.level_at(now)))
        self.at = max(self.at, now)  # a refill held back by :meth:`take` stays held back
