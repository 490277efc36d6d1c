"""A thread-safe queue of what a fake answers next (faults, replies), shared by the fakes."""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterable
from typing import Generic, TypeVar

__all__ = ["AnswerQueue"]

T = TypeVar("T")


class AnswerQueue(Generic[T]):
    """First in, first out; every method takes the queue's own lock."""

    def __init__(self, items: Iterable[T] = ()) -> None:
        self._items: collections.deque[T] = collections.deque(items)
        self._lock = threading.Lock()

    def extend(self, items: Iterable[T]) -> None:
        """Queues ``items`` after those already queued."""
        with self._lock:
            self._items.extend(items)

    def pop(self) -> T | None:
        """Takes the next item, or ``None`` when the queue is empty."""
        with self._lock:
            return self._items.popleft() if self._items else None

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
