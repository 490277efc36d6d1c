"""Tests on named pipes (FIFOs): a guard that turns a call blocked on one into a failure, not a hang."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes (os.mkfifo) are POSIX only")

# How long a call may take before it counts as hung; only a bound against hanging the suite.
HANG = 60.0


def finishes(call: Callable[[], Any], fifo: Path) -> Any:
    """Runs ``call`` in a thread; fails when it is still blocked after :data:`HANG` seconds.

    A blocked open or read of ``fifo`` is then released by opening its writing end, so a
    regression fails the test instead of hanging the suite.
    """
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed to the test thread
            outcome["error"] = exc
        finally:
            done.set()

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    if not done.wait(HANG):
        with open(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK), "wb"):
            pass  # a writer that closes at once: the reader sees the end
        done.wait(HANG)
        pytest.fail(f"blocked on the FIFO {fifo.name} with nothing writing to it")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def feed_when_read(fifo: Path, data: bytes) -> tuple[threading.Event, threading.Thread]:
    """A started thread that writes ``data`` into ``fifo`` once the returned event is set.

    Set the event just before the reader opens the FIFO; the writer's open blocks until then.
    """
    reading = threading.Event()

    def write() -> None:
        reading.wait()
        with open(fifo, "wb") as pipe:  # blocks until the reader has opened its end
            pipe.write(data)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    return reading, writer
