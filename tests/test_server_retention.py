"""Retention (invoiceai.server.retention): uploads and finished jobs deleted after their days, audited.

Every test runs on SQLite and PostgreSQL, with the purge's clock injected (``now=`` days ahead).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from documents_factory import png_invoice
from invoiceai.documents import Document
from invoiceai.errors import ConfigurationError
from invoiceai.server import leases, store
from invoiceai.server.audit import read_audit
from invoiceai.server.clock import utcnow
from invoiceai.server.context import ServiceContext
from invoiceai.server.message_batches_store import DatabaseBatchStore, batch_records
from invoiceai.server.models import audit, batches, jobs, uploads
from invoiceai.server.outbox import Deliverer, webhook_deliveries
from invoiceai.server.retention import Purged, Purger, purge
from invoiceai.server.review_store import corrections
from invoiceai.server.settings import ServiceSettings
from server_helpers import settings_for
from server_helpers import store_only as opened

OWNER = "key_1"


def document(label: str) -> Document:
    return Document(data=png_invoice(label), media_type="image/png", name=f"{label}.png")


def submit(context: ServiceContext, label: str, **options: Any) -> str:
    submission = store.Submission(f"{label}.png", document=document(label))
    key = options.pop("key", None) or f"k-{label}-{utcnow().isoformat()}"
    row, _ = store.create_job(context.engine, OWNER, submission, idempotency_key=key)
    return str(row["id"])


def finish(context: ServiceContext, job_id: str) -> None:
    claim = leases.claim(context.engine, job_id, "w1", 30)
    assert claim is not None
    assert leases.finish(context.engine, claim, leases.Outcome(status="succeeded", result='{"data": {}}'))


def count(context: ServiceContext, table: Any) -> int:
    with context.engine.begin() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def stored_uploads(context: ServiceContext) -> set[str]:
    with context.engine.begin() as connection:
        return set(connection.execute(select(uploads.c.sha256)).scalars())


def later(days: float) -> datetime:
    return utcnow() + timedelta(days=days)


def test_an_upload_goes_days_after_its_last_job_ended_never_while_one_runs(database_url: str, tmp_path: Path) -> None:
    with opened(tmp_path, database_url, upload_retention_days=7) as context:
        done, running = submit(context, "done"), submit(context, "running")
        submit(context, "queued")
        finish(context, done)
        assert leases.claim(context.engine, running, "w1", 30) is not None
        sha = {label: document(label).document_id for label in ("done", "running", "queued")}
        assert purge(context.engine, context.settings, now=later(6)) == Purged()  # not yet
        assert purge(context.engine, context.settings, now=later(8)) == Purged(uploads=1)
        assert stored_uploads(context) == {sha["running"], sha["queued"]}  # their jobs have not ended
        assert purge(context.engine, context.settings, now=later(365)) == Purged()
        result = store.get_job(context.engine, done, OWNER)
        assert result is not None and result["result"] == '{"data": {}}'  # the result stays


def test_an_upload_another_job_still_needs_is_kept(database_url: str, tmp_path: Path) -> None:
    with opened(tmp_path, database_url, upload_retention_days=7) as context:
        first = submit(context, "same", key="first")
        finish(context, first)
        with context.engine.begin() as connection:  # the first job ended long ago
            connection.execute(update(jobs).values(finished_at=utcnow() - timedelta(days=30)))
            connection.execute(update(uploads).values(created_at=utcnow() - timedelta(days=30)))
        second = submit(context, "same", key="second")  # storing the document again restarts its days
        assert purge(context.engine, context.settings) == Purged()
        finish(context, second)
        assert purge(context.engine, context.settings, now=later(6)) == Purged()
        assert purge(context.engine, context.settings, now=later(8)) == Purged(uploads=1)


def test_jobs_are_kept_by_default_and_deleted_after_job_retention_days(database_url: str, tmp_path: Path) -> None:
    with opened(tmp_path, database_url, upload_retention_days=0) as context:
        old = submit(context, "old")
        finish(context, old)
        assert context.settings.job_retention_days == 0
        assert purge(context.engine, context.settings, now=later(3650)) == Purged()
    with opened(tmp_path, database_url, upload_retention_days=0, job_retention_days=30) as context:
        open_job = submit(context, "open")
        batch, _ = store.create_batch(context.engine, OWNER, [store.Submission("b.png", document=document("b"))])
        (batch_job,) = store.job_rows_of_batch(context.engine, batch["id"])
        finish(context, batch_job["id"])
        with context.engine.begin() as connection:
            connection.execute(corrections.insert().values(
                job_id=old, key_id=OWNER, at=utcnow(), action="correct", field="/total", old_value="1", new_value="2"
            ))  # fmt: skip
            connection.execute(webhook_deliveries.insert().values(
                id=f"{old}:succeeded", job_id=old, owner=OWNER, status="succeeded", state="delivered", attempts=1,
                next_attempt_at=utcnow(), created_at=utcnow(),
            ))  # fmt: skip
        assert purge(context.engine, context.settings, now=later(29)) == Purged()
        assert purge(context.engine, context.settings, now=later(31)) == Purged(jobs=2, batches=1)
        assert store.get_job(context.engine, old, OWNER) is None
        assert store.get_job(context.engine, open_job, OWNER) is not None  # never finished: kept
        assert (count(context, corrections), count(context, webhook_deliveries), count(context, batches)) == (0, 0, 0)
        assert len(stored_uploads(context)) == 3  # upload retention is off here


def test_each_purge_that_deleted_something_writes_one_audit_row_of_counts(database_url: str, tmp_path: Path) -> None:
    with opened(tmp_path, database_url, upload_retention_days=7, job_retention_days=30) as context:
        for label in ("a", "b", "c"):
            finish(context, submit(context, label))
        purge(context.engine, context.settings, now=later(10))
        purge(context.engine, context.settings, now=later(11))  # nothing left to delete: no row
        purge(context.engine, context.settings, now=later(40))
        rows = [row for row in read_audit(context.engine) if row.action == "purge"]
    assert [(row.key_id, row.outcome) for row in rows] == [("system", "ok")] * 2
    assert rows[0].detail == "uploads 3 (kept 7 days), jobs 0 (kept 30 days), batches 0"
    assert rows[1].detail == "uploads 0 (kept 7 days), jobs 3 (kept 30 days), batches 0"
    assert all(row.job_id is None and row.document_sha256 is None for row in rows)


def test_the_purge_deletes_in_bounded_chunks(database_url: str, tmp_path: Path) -> None:
    with opened(tmp_path, database_url, upload_retention_days=1) as context:
        for label in "abcde":
            finish(context, submit(context, label))
        transactions: list[int] = []
        real_begin = context.engine.begin

        def counting_begin() -> Any:
            transactions.append(1)
            return real_begin()

        context.engine.begin = counting_begin  # type: ignore[method-assign]
        try:
            assert purge(context.engine, context.settings, now=later(2), chunk=2) == Purged(uploads=5)
        finally:
            del context.engine.begin
        assert stored_uploads(context) == set()
    assert len(transactions) == 3 + 1  # 2 + 2 + 1 uploads, then the audit row


def test_the_purger_runs_once_per_interval(tmp_path: Path) -> None:
    with opened(tmp_path, f"sqlite:///{tmp_path / 'jobs.sqlite3'}", purge_interval_seconds=60) as context:
        clock = [1000.0]
        purger = Purger(context.engine, context.settings, clock=lambda: clock[0])
        assert purger.maybe_run() == Purged()  # the first call runs
        clock[0] += 59
        assert purger.maybe_run() is None
        clock[0] += 1
        assert purger.maybe_run() == Purged()
        off = Purger(context.engine, context.settings.replace(upload_retention_days=0.0), clock=lambda: clock[0])
        assert context.settings.replace(upload_retention_days=0.0).upload_retention_days == 0
        assert off.maybe_run() is None  # nothing is ever purged


def test_the_deliverer_thread_runs_the_chores(tmp_path: Path) -> None:
    ran = threading.Event()
    with opened(tmp_path, f"sqlite:///{tmp_path / 'jobs.sqlite3'}") as context:
        deliverer = Deliverer(context, chores=[ran.set])
        deliverer.start()
        try:
            assert ran.wait(30)
        finally:
            deliverer.stop()


def test_retention_settings_come_from_the_environment() -> None:
    env = {"INVOICEAI_SERVER_UPLOAD_RETENTION_DAYS": "2.5", "INVOICEAI_SERVER_JOB_RETENTION_DAYS": "90"}
    settings = ServiceSettings.load(env)
    assert (settings.upload_retention_days, settings.job_retention_days) == (2.5, 90)
    assert (ServiceSettings.load({}).upload_retention_days, ServiceSettings.load({}).job_retention_days) == (7, 0)
    with pytest.raises(ConfigurationError, match="upload_retention_days"):
        ServiceSettings(upload_retention_days=-1)
    with pytest.raises(ConfigurationError, match="purge_interval_seconds"):
        ServiceSettings(purge_interval_seconds=0)


def test_a_job_whose_webhook_is_pending_is_kept_until_the_delivery_ends(database_url: str, tmp_path: Path) -> None:
    with opened(tmp_path, database_url, upload_retention_days=0, job_retention_days=1) as context:
        waiting, plain = submit(context, "waiting"), submit(context, "plain")
        finish(context, waiting)
        finish(context, plain)
        with context.engine.begin() as connection:  # e.g. the receiver was down through a long outage
            connection.execute(webhook_deliveries.insert().values(
                id=f"{waiting}:succeeded", job_id=waiting, owner=OWNER, status="succeeded", state="pending",
                attempts=3, url="https://hooks.example.com/cb", next_attempt_at=utcnow(), created_at=utcnow(),
            ))  # fmt: skip
        assert purge(context.engine, context.settings, now=later(2)) == Purged(jobs=1)
        assert store.get_job(context.engine, waiting, OWNER) is not None  # its webhook may still be sent
        assert count(context, webhook_deliveries) == 1
        with context.engine.begin() as connection:
            connection.execute(update(webhook_deliveries).values(state="gave_up", url=None))
        assert purge(context.engine, context.settings, now=later(2)) == Purged(jobs=1)
        assert store.get_job(context.engine, waiting, OWNER) is None
        assert count(context, webhook_deliveries) == 0


@contextmanager
def counted_transactions(context: ServiceContext, then: Any = None) -> Iterator[list[int]]:
    """Counts the engine's transactions; ``then(count)`` is called as each one begins."""
    transactions: list[int] = []
    real_begin = context.engine.begin

    def counting_begin() -> Any:
        transactions.append(1)
        if then is not None:
            then(len(transactions))
        return real_begin()

    context.engine.begin = counting_begin  # type: ignore[method-assign]
    try:
        yield transactions
    finally:
        del context.engine.begin


def test_an_upload_purge_transaction_deletes_at_most_chunk_bytes(database_url: str, tmp_path: Path) -> None:
    with opened(tmp_path, database_url, upload_retention_days=1) as context:
        for label in "abcde":
            finish(context, submit(context, label))
        with context.engine.begin() as connection:
            sizes = sorted(connection.execute(select(uploads.c.size)).scalars())
        # Two of the smallest fit a chunk, never three: at least three transactions, each under the bound.
        with counted_transactions(context) as transactions:
            assert purge(context.engine, context.settings, now=later(2), chunk_bytes=sizes[0] + sizes[1]) == Purged(
                uploads=5
            )
        assert 3 + 1 <= len(transactions) <= 5 + 1  # then the audit row
        finish(context, submit(context, "f"))
        with counted_transactions(context) as transactions:  # bigger than the bound: still deleted, one each
            assert purge(context.engine, context.settings, now=later(2), chunk_bytes=1) == Purged(uploads=1)
        assert len(transactions) == 1 + 1
        assert stored_uploads(context) == set()


def test_a_purge_stops_between_chunks_once_its_stop_is_set(database_url: str, tmp_path: Path) -> None:
    with opened(tmp_path, database_url, upload_retention_days=1) as context:
        for label in "abcde":
            finish(context, submit(context, label))
        stop = threading.Event()
        with counted_transactions(context, then=lambda n: stop.set()):  # set as the first chunk begins
            purged = purge(context.engine, context.settings, now=later(2), chunk_bytes=1, stop=stop)
        assert purged == Purged(uploads=1)  # that chunk ends; no other starts
        assert len(stored_uploads(context)) == 4
        assert purge(context.engine, context.settings, now=later(2), chunk_bytes=1) == Purged(uploads=4)


def test_stopping_the_upkeep_stops_its_purge(tmp_path: Path) -> None:
    from invoiceai.server.upkeep import running

    with opened(tmp_path, f"sqlite:///{tmp_path / 'jobs.sqlite3'}") as context:
        with running(context) as deliverer:
            (chore,) = deliverer.chores
            purger = getattr(chore, "__self__", None)
            assert isinstance(purger, Purger) and purger.stop is deliverer.stopping
            assert not deliverer.stopping.is_set()
        assert deliverer.stopping.is_set()


def test_the_store_indexes_finished_jobs_for_the_purge(database_url: str, tmp_path: Path) -> None:
    from sqlalchemy import inspect

    with opened(tmp_path, database_url) as context:
        indexes = {index["name"]: index["column_names"] for index in inspect(context.engine).get_indexes("jobs")}
    assert indexes["ix_jobs_finished"] == ["status", "finished_at"]  # migration 0013


def test_after_the_upload_purge_the_job_says_its_document_was_deleted(tmp_path: Path) -> None:
    from documents_factory import example_invoice, pdf_invoice
    from invoiceai.extractor import Extractor
    from invoiceai.testing import FakeBackend
    from server_helpers import client, new_key, serving

    extractor = Extractor(backend=FakeBackend(default=example_invoice()), cache=None)
    with serving(settings_for(tmp_path, upload_retention_days=7), extractor=extractor) as (server, context):
        _, key = new_key(context)
        api = client(server, key)
        created = api.post("/v1/documents?wait=20", files={"file": ("inv.pdf", pdf_invoice(), "application/pdf")})
        job = created.json()
        assert job["status"] == "succeeded", job
        assert api.get(f"/v1/jobs/{job['id']}/pages/1").status_code == 200  # kept so far
        assert purge(context.engine, context.settings, now=later(8)) == Purged(uploads=1)
        note = api.get(f"/v1/jobs/{job['id']}/review/data").json()["pages_note"]
        page = api.get(f"/v1/jobs/{job['id']}/pages/1")
        facturx = api.get(f"/v1/jobs/{job['id']}/result", params={"format": "facturx"})
    assert "deleted" in note and "upload_retention_days" in note and "URL" not in note
    for response in (page, facturx):
        assert response.status_code == 409, response.text
        detail = response.json()["detail"]
        assert "deleted from the job store after the upload retention (7 days" in detail, detail
        assert "URL" not in detail and "not an uploaded PDF" not in detail


# 1e6 days reach before the year 1; 1e18 overflows timedelta itself (larger ones are refused as settings).
@pytest.mark.parametrize("days", [1e6, 1e18])
def test_a_retention_reaching_before_the_year_1_keeps_everything_and_the_purge_goes_on(
    database_url: str, tmp_path: Path, days: float
) -> None:
    huge = {"upload_retention_days": days, "job_retention_days": days, "audit_retention_days": days}
    with opened(tmp_path, database_url, **huge) as context:
        engine = context.engine
        finish(context, submit(context, "old"))
        with engine.begin() as connection:
            connection.execute(audit.insert().values(
                at=utcnow() - timedelta(days=3650), key_id=OWNER, action="create", outcome="ok"
            ))  # fmt: skip
        for name in huge:  # each setting alone ("for ever" written as a big number): nothing is that old
            alone = context.settings.replace(**{key: days if key == name else 0.0 for key in huge})
            assert purge(engine, alone, now=later(3650)) == Purged(), name
        # All three at once: the Message Batches sweep and the purge's audit row still happen.
        DatabaseBatchStore(engine).put("iaib_orphan", {("doc", "0"): "{}"})
        assert purge(engine, context.settings, now=later(3650)) == Purged(batch_records=1)
        assert (count(context, jobs), len(stored_uploads(context)), count(context, batch_records)) == (1, 1, 0)
        assert [row.action for row in read_audit(engine)].count("purge") == 1
        with engine.begin() as connection:
            ancient = select(func.count()).select_from(audit).where(audit.c.at < later(-3000))
            assert connection.execute(ancient).scalar_one() == 1  # the old audit row is kept
        assert Purger(engine, context.settings).maybe_run() == Purged()  # None: it failed, and logged why
