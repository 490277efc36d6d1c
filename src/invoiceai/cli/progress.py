"""The command line's progress line on stderr: drawn from the start, redrawn while work goes on.

The library's own bar (``progress=None``) draws when a document finishes, so a run of one slow
document showed nothing until the end. This one draws ``[0/N]`` before the first document is
read and redraws once a second (the elapsed time moves, so a long wait never looks like a hang);
:meth:`CliProgress.note` shows what the run is waiting for.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from invoiceai.backends.claude.pacing import PacingSnapshot, WaitEvent

__all__ = ["CliProgress", "pacing_summary", "shown_wait"]

# Pacing holds shorter than this are routine (a request every few hundred milliseconds at a
# tight limit): shown, they would flicker on every line.
_SHOWN_HOLD_SECONDS = 1.0


class CliProgress:
    """``[ 3/10]  30%  ok 3 failed 0  12 s  eta 28 s  waiting 8 s: rate limited`` on one line.

    Call it as the library's progress callback (``progress(done, total)``); use it as a context
    manager so the line is drawn on entry and ended on exit. Thread-safe.

    Args:
        total: How many documents the run has.
        stream: Where to draw (a terminal; the caller decides whether to draw at all).
        interval: Seconds between redraws while nothing finishes.
    """

    def __init__(self, total: int, stream: TextIO, *, interval: float = 1.0) -> None:
        self._total = total
        self._stream = stream
        self._interval = interval
        self._done = 0
        self._failed = 0
        self._note = ""
        self._note_until = float("inf")
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="invoiceai-progress", daemon=True)

    def __enter__(self) -> CliProgress:
        self._started = time.monotonic()
        self._draw()
        self._ticker.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._ticker.join()
        with self._lock:
            self._note = ""
        self._draw()
        self._stream.write("\n")
        self._stream.flush()

    def __call__(self, done: int, total: int) -> None:
        """The library's progress callback: ``done`` of ``total`` documents are finished."""
        with self._lock:
            self._done = max(self._done, done)
            self._total = max(self._total, total)
        self._draw()

    def failed(self) -> None:
        """Counts one document that failed (the CLI learns it as it writes the result)."""
        with self._lock:
            self._failed += 1

    def note(self, text: str, *, seconds: float | None = None) -> None:
        """Shows ``text`` (e.g. ``"waiting 8 s: rate limited"``) for ``seconds``, or until replaced.

        This is where the backend's wait and retry events are shown (see :func:`shown_wait`).
        """
        with self._lock:
            self._note = text
            self._note_until = time.monotonic() + seconds if seconds is not None else float("inf")
        self._draw()

    def wait(self, event: WaitEvent) -> None:
        """A backend pacing listener: shows the waits worth showing (:func:`shown_wait`) for their length."""
        text = shown_wait(event)
        if text is not None:
            self.note(text, seconds=event.seconds)

    def line(self) -> str:
        """The current progress line, without the carriage return."""
        with self._lock:
            done, total, failed, note = self._done, self._total, self._failed, self._note
            if time.monotonic() >= self._note_until:  # the wait it described is over
                note = self._note = ""
        elapsed = time.monotonic() - self._started
        width = len(str(total))
        percent = 100 * done // max(total, 1)
        text = f"[{done:>{width}}/{total}] {percent:3d}%  ok {max(done - failed, 0)} failed {failed}  {elapsed:.0f} s"
        if 0 < done < total:
            text += f"  eta {elapsed / done * (total - done):.0f} s"
        return f"{text}  {note}" if note else text

    def _draw(self) -> None:
        text = self.line()
        with self._lock:
            # \x1b[K clears what a longer previous line left behind.
            self._stream.write(f"\r{text}\x1b[K")
            self._stream.flush()

    def _tick(self) -> None:
        while not self._stop.wait(self._interval):
            self._draw()


def shown_wait(event: WaitEvent) -> str | None:
    """Returns ``waiting 8.0 s: rate limited`` for a wait worth showing, else ``None``.

    Cooldowns and retries are always shown; pacing holds from 1 s up (shorter ones are the
    routine spacing of requests at a tight limit).
    """
    if event.kind == "pacing" and event.seconds < _SHOWN_HOLD_SECONDS:
        return None
    return event.describe()


def pacing_summary(snapshot: PacingSnapshot) -> str | None:
    """Returns the summary line's pacing part, or ``None`` when no request waited.

    E.g. ``waited 14 times, 9.5 s in all; 1 rate limited (429); limits learned: 50 requests,
    8,000 output tokens``.
    """
    if not snapshot.waits:
        return None
    times = "time" if snapshot.waits == 1 else "times"
    text = f"waited {snapshot.waits} {times}, {snapshot.waited_seconds:.1f} s in all"
    text += f"; {snapshot.rate_limited} rate limited (429)"
    if snapshot.buckets:
        limits = ", ".join(f"{bucket.limit:,.0f} {bucket.name.replace('-', ' ')}" for bucket in snapshot.buckets)
        text += f"; limits learned: {limits}"
    return text
