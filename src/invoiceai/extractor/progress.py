"""A one-line progress bar on stderr for batches, and the rule for when to show it."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["Advance", "ProgressArg", "ProgressBar", "make_progress"]

ProgressArg = bool | Callable[[int, int], None] | None
"""``None``: a bar when stderr is a terminal; ``True``/``False``: on (still only on a terminal) or
off; a callable: called as ``callback(done, total)`` after each document. When the sources have
no ``len()`` (a generator given to ``iter_extract``), ``total`` counts the sources read so far;
it reaches the real total once the input is exhausted."""

Advance = Callable[[bool, int, bool], None]
"""What a batch calls per finished document: ``advance(ok, total, total_is_final)``."""


class ProgressBar:
    """Redraws ``[ 12/200]  6% ok 11 failed 1  3.2 docs/s  eta 59 s`` in place, at most 10 times a second.

    Thread-safe: batch workers call :meth:`advance` concurrently.
    """

    def __init__(self, total: int | None, *, stream: TextIO, min_interval: float = 0.1) -> None:
        self._total = total or 0
        self._final = total is not None
        self._stream = stream
        self._min_interval = min_interval
        self._done = 0
        self._failed = 0
        self._started = time.monotonic()
        self._drawn = 0.0
        self._lock = threading.Lock()

    def advance(self, ok: bool = True, total: int | None = None, final: bool | None = None) -> None:
        """Counts one finished document and redraws if enough time has passed.

        Args:
            ok: Whether the document was extracted.
            total: A new total, when the batch learns more of its input as it goes.
            final: Whether ``total`` is the real total (the line ends when it is reached).
        """
        with self._lock:
            self._done += 1
            self._failed += 0 if ok else 1
            self._total = max(self._total if total is None else total, self._done)
            self._final = self._final if final is None else final
            last = self._final and self._done == self._total
            now = time.monotonic()
            if now - self._drawn >= self._min_interval or last:
                self._drawn = now
                self._draw(now)
            if last:  # the last document ends the line
                self._stream.write("\n")
                self._stream.flush()

    def _draw(self, now: float) -> None:
        elapsed = max(now - self._started, 1e-9)
        rate = self._done / elapsed
        remaining = (self._total - self._done) / rate if rate > 0 else 0.0
        width = len(str(self._total))
        percent = 100 * self._done // max(self._total, 1)
        if self._final:
            head = f"[{self._done:>{width}}/{self._total}] {percent:3d}%"
            eta = f"  eta {remaining:.0f} s "
        else:  # the input is still being read: no percentage or eta to promise
            head, eta = f"[{self._done}/{self._total}+]", " "
        line = f"\r{head} ok {self._done - self._failed} failed {self._failed}  {rate:.1f} docs/s{eta}"
        self._stream.write(line)
        self._stream.flush()


def make_progress(progress: ProgressArg, total: int | None, stream: TextIO | None = None) -> Advance | None:
    """Returns the per-document callback for ``progress``, or ``None`` when nothing should be shown.

    A bar is only drawn on a terminal: redirected stderr (CI logs, ``2> file``) stays clean.

    Args:
        progress: What the caller asked for.
        total: The number of documents, or ``None`` when not known up front.
        stream: Where a bar is drawn (default stderr).
    """
    if callable(progress):
        counter = [0]
        lock = threading.Lock()

        def call(_: bool, now_total: int, __: bool) -> None:
            with lock:
                counter[0] += 1
                done = counter[0]
            progress(done, now_total)

        return call
    stream = sys.stderr if stream is None else stream
    if progress is False or not stream.isatty():
        return None
    return ProgressBar(total, stream=stream).advance
