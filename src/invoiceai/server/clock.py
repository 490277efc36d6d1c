"""Time in the job store: naive UTC datetimes, which SQLite and PostgreSQL compare alike."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

__all__ = ["iso", "next_midnight", "utcnow"]


def utcnow() -> datetime:
    """Now, in UTC, without tzinfo (how the store keeps every time)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def iso(moment: datetime | None) -> str | None:
    """A stored time as ISO 8601 with ``Z``; ``None`` stays ``None``."""
    return None if moment is None else moment.isoformat(timespec="milliseconds") + "Z"


def next_midnight(now: datetime) -> datetime:
    """The start of the next UTC day after ``now`` (when a daily quota resets)."""
    return datetime(now.year, now.month, now.day) + timedelta(days=1)
