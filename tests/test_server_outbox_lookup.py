"""A webhook attempt ends at its timeout even when the name lookup of its host hangs.

The lookup runs in a thread (``asyncio.to_thread``) that cannot be stopped; the deliverer must not
wait for it, neither for the attempt nor when its event loop is done with a batch. The resolver
is replaced by one that blocks until the test releases it: no name leaves the machine.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from invoiceai.server import outbox, webhooks
from invoiceai.server.outbox import PENDING, Deliverer, Policy
from test_server_outbox import a_job, opened, queue, rows

HUNG = "hangs.example"


class HungLookup:
    """A system resolver whose lookups of :data:`HUNG` block until :attr:`released` is set."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.released = threading.Event()

    def __call__(self, host: str, port: int) -> list[str]:
        assert host == HUNG, host
        self.started.set()
        self.released.wait(120)
        return ["203.0.113.7"]


@pytest.fixture
def lookup(monkeypatch: pytest.MonkeyPatch) -> Iterator[HungLookup]:
    # The guard looks names up only while private URLs are refused (the default).
    monkeypatch.delenv("INVOICEAI_ALLOW_PRIVATE_URLS", raising=False)
    hung = HungLookup()
    monkeypatch.setattr(webhooks, "resolve_host", hung)
    try:
        yield hung
    finally:
        hung.released.set()


def quick(context: Any) -> Deliverer:
    deliverer = Deliverer(context)
    deliverer.policy = Policy(timeout_s=0.2, backoff_s=3600, max_backoff_s=3600)
    return deliverer


def test_run_once_returns_at_the_timeout_while_the_lookup_still_hangs(tmp_path: Path, lookup: HungLookup) -> None:
    with opened(tmp_path) as context:
        queue(context, a_job(1, f"http://{HUNG}/hook"))
        deliverer = quick(context)
        done = threading.Event()
        thread = threading.Thread(target=lambda: (deliverer.run_once(), done.set()), daemon=True)
        thread.start()
        # Generous: the attempt's limit is 0.2 s; before the fix run_once waited for the lookup.
        assert done.wait(60), "run_once waited for the hung lookup, past the attempt's timeout"
        assert lookup.started.is_set() and not lookup.released.is_set()
        row = rows(context)["job-1:succeeded"]
        assert row["state"] == PENDING and row["attempts"] == 1
        assert "did not resolve within 0.2 s" in row["last_error"]


def test_the_deliverer_thread_goes_on_while_an_earlier_lookup_hangs(
    tmp_path: Path, lookup: HungLookup, monkeypatch: pytest.MonkeyPatch
) -> None:
    settled: list[str] = []
    changed = threading.Condition()
    real_settle = outbox.settle

    def settle(*args: Any, **options: Any) -> str:
        state = real_settle(*args, **options)
        with changed:
            settled.append(args[1].row["id"])
            changed.notify_all()
        return state

    monkeypatch.setattr(outbox, "settle", settle)
    with opened(tmp_path) as context:
        deliverer = quick(context)
        deliverer.poll_seconds = 3600  # only a wake makes it look again
        queue(context, a_job(1, f"http://{HUNG}/first"))
        deliverer.start()
        try:
            with changed:
                assert changed.wait_for(lambda: len(settled) == 1, 60)
            queue(context, a_job(2, f"http://{HUNG}/second"))
            deliverer.wake()
            with changed:
                # Before the fix the thread sat in the closing of its loop until the first lookup ended.
                assert changed.wait_for(lambda: len(settled) == 2, 60), "the thread waited for the hung lookup"
            assert not lookup.released.is_set()
        finally:
            deliverer.stop(timeout=60)
    assert settled == ["job-1:succeeded", "job-2:succeeded"]
