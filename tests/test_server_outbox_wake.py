"""How a job's ending reaches the outbox: the ending's own transaction writes the row, ``notify`` only wakes.

``runner.notify`` used to write the row again in a transaction of its own (a no-op on SQLite's
single write lock, but still a write transaction per finished job); the row a job's ending writes
carries the document hash the outcome found, which a URL job learns only then.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from invoiceai.server import leases, store
from invoiceai.server.runner import notify
from test_server_outbox import opened, rows

HASH = "cd" * 32


def test_notify_only_wakes_the_deliverer(tmp_path: Path) -> None:
    with opened(tmp_path) as context:
        woken: list[int] = []
        context.seams.on_webhook = lambda: woken.append(1)
        transactions: list[int] = []
        real_begin, real_connect = context.engine.begin, context.engine.connect

        def counting(real: Any) -> Any:
            def opened_one(*args: Any, **options: Any) -> Any:
                transactions.append(1)
                return real(*args, **options)

            return opened_one

        context.engine.begin = counting(real_begin)  # type: ignore[method-assign]
        context.engine.connect = counting(real_connect)  # type: ignore[method-assign]
        try:
            notify(context, {"id": "job-1", "owner": "key_1", "callback_url": "https://hooks.example.com/cb"}, "failed")
            notify(context, {"id": "job-2", "owner": "key_1", "callback_url": None}, "failed")
        finally:
            del context.engine.begin, context.engine.connect
        assert transactions == []  # the job's ending wrote the row already
        assert woken == [1]  # only the job with a callback URL
        assert rows(context) == {}


def test_a_url_jobs_webhook_row_has_the_hash_its_outcome_found(tmp_path: Path) -> None:
    with opened(tmp_path) as context:
        submission = store.Submission(
            "b.pdf", url="https://e.example/b.pdf", callback_url="https://hooks.example.com/cb"
        )
        row, _ = store.create_job(context.engine, "key_1", submission)
        assert row["document_sha256"] is None  # not fetched yet
        claim = leases.claim(context.engine, row["id"], "w1", 30)
        assert claim is not None
        outcome = leases.Outcome(status="succeeded", result='{"data": {}}', document_sha256=HASH)
        assert leases.finish(context.engine, claim, outcome)
        delivery = rows(context)[f"{row['id']}:succeeded"]
        assert delivery["document_sha256"] == HASH
        assert delivery["url"] == "https://hooks.example.com/cb"
