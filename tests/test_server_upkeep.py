"""Service upkeep beyond uploads and jobs: audit retention, and the Message Batches state the purge sweeps.

Every store test runs on SQLite and PostgreSQL. Time is injected: the purge's ``now=``, and rows
dated back by an update where one row must look older than another.
"""

from __future__ import annotations

import time
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
from invoiceai.server.message_batches_store import (
    DatabaseBatchStore,
    add_message_batch,
    batch_leases,
    batch_records,
    message_batches,
)
from invoiceai.server.models import audit, batches, jobs
from invoiceai.server.retention import Purged, Purger, purge
from invoiceai.server.review_store import corrections, read_corrections
from invoiceai.server.settings import ServiceSettings
from server_helpers import store_only as opened

OWNER = "key_1"


def submit(context: ServiceContext, label: str) -> str:
    document = Document(data=png_invoice(label), media_type="image/png", name=f"{label}.png")
    row, _ = store.create_job(
        context.engine, OWNER, store.Submission(f"{label}.png", document=document), idempotency_key=label
    )
    return str(row["id"])


def finish(context: ServiceContext, job_id: str) -> None:
    claim = leases.claim(context.engine, job_id, "w1", 30)
    assert claim is not None
    assert leases.finish(context.engine, claim, leases.Outcome(status="succeeded", result='{"data": {}}'))


def count(context: ServiceContext, table: Any, *where: Any) -> int:
    with context.engine.begin() as connection:
        return int(connection.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def later(days: float) -> datetime:
    return utcnow() + timedelta(days=days)


def date_back(context: ServiceContext, job: str, days: float) -> None:
    """Makes the library job ``job``'s records look written ``days`` ago."""
    with context.engine.begin() as connection:
        connection.execute(
            update(batch_records).where(batch_records.c.job == job).values(created_at=utcnow() - timedelta(days=days))
        )


# -- audit retention --------------------------------------------------------------------------------


def test_audit_rows_are_kept_by_default_and_deleted_after_audit_retention_days(
    database_url: str, tmp_path: Path
) -> None:
    with opened(tmp_path, database_url, upload_retention_days=0) as context:
        assert context.settings.audit_retention_days == 0
        kept = submit(context, "kept")
        finish(context, kept)
        with context.engine.begin() as connection:  # a correction: what the review page's history shows
            connection.execute(corrections.insert().values(
                job_id=kept, key_id=OWNER, at=utcnow(), action="correct", field="/total", old_value="1", new_value="2"
            ))  # fmt: skip
        rows = count(context, audit)
        assert rows == 4  # create, state:queued, state:running, state:succeeded
        assert purge(context.engine, context.settings, now=later(3650)) == Purged()
        assert count(context, audit) == rows
    with opened(tmp_path, database_url, upload_retention_days=0, audit_retention_days=30) as context:
        assert purge(context.engine, context.settings, now=later(29)) == Purged()
        assert purge(context.engine, context.settings, now=later(31)) == Purged(audit=rows)
        assert store.get_job(context.engine, kept, OWNER) is not None  # job retention is off: the job stays
        assert [correction.new_value for correction in read_corrections(context.engine, kept)] == [2]
        (row,) = read_audit(context.engine)  # only the purge's own row is left
    assert (row.action, row.key_id) == ("purge", "system")
    assert row.detail == f"uploads 0 (kept 0 days), jobs 0 (kept 0 days), batches 0, audit rows {rows} (kept 30 days)"


def test_the_audit_purge_deletes_in_chunks_and_stops_between_them(database_url: str, tmp_path: Path) -> None:
    import threading

    with opened(tmp_path, database_url, upload_retention_days=0, audit_retention_days=1) as context:
        for label in "abc":
            submit(context, label)  # two audit rows each: create, state:queued
        rows = count(context, audit)
        assert rows == 6
        stop = threading.Event()
        transactions: list[int] = []
        real_begin = context.engine.begin

        def counting_begin() -> Any:
            transactions.append(1)
            if len(transactions) == 2:
                stop.set()  # as the second chunk begins: it ends, no third starts
            return real_begin()

        context.engine.begin = counting_begin  # type: ignore[method-assign]
        try:
            assert purge(context.engine, context.settings, now=later(2), chunk=2, stop=stop) == Purged(audit=4)
        finally:
            del context.engine.begin
        assert len(transactions) == 2 + 1  # two chunks, then the purge's row
        assert count(context, audit, audit.c.action != "purge") == 2
        assert purge(context.engine, context.settings, now=later(2), chunk=2) == Purged(
            audit=3
        )  # and the 1st purge row


def test_the_purger_runs_when_only_audit_retention_is_on(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.sqlite3'}"
    with opened(tmp_path, url, upload_retention_days=0, audit_retention_days=1) as context:
        purger = Purger(context.engine, context.settings, clock=lambda: 0.0)
        assert purger.maybe_run() == Purged()  # ran (nothing old yet)


def test_audit_retention_comes_from_the_environment() -> None:
    assert ServiceSettings.load({"INVOICEAI_SERVER_AUDIT_RETENTION_DAYS": "400"}).audit_retention_days == 400
    assert ServiceSettings.load({}).audit_retention_days == 0
    with pytest.raises(ConfigurationError, match="audit_retention_days"):
        ServiceSettings(audit_retention_days=-1)


# -- Message Batches records and leases -------------------------------------------------------------


def test_a_submission_in_progress_survives_the_purge_and_an_old_orphan_goes(database_url: str, tmp_path: Path) -> None:
    with opened(tmp_path, database_url) as context:
        engine = context.engine
        with engine.begin() as connection:
            add_message_batch(connection, "b-1")
            add_message_batch(connection, "b-2")
        # A submission being made now: its documents are stored, its meta (the binding) not yet.
        DatabaseBatchStore(engine, batch_id="b-1", members=["j-1"]).put("iaib_now", {("doc", "0"): "{}"})
        # A submission killed two days ago before its meta: nothing will ever refer to it.
        DatabaseBatchStore(engine, batch_id="b-2", members=["j-2"]).put(
            "iaib_old", {("doc", "0"): "{}", ("doc", "1"): "{}"}
        )
        date_back(context, "iaib_old", 2)
        # A killed one whose last document was stored an hour ago: its job is as recent as its newest record.
        DatabaseBatchStore(engine).put("iaib_slow", {("doc", "0"): "{}"})
        date_back(context, "iaib_slow", 3)
        DatabaseBatchStore(engine).add("iaib_slow", {("doc", "1"): "{}"})
        assert purge(engine, context.settings) == Purged(batch_records=2)
        remaining = DatabaseBatchStore(engine)
        assert remaining.read("iaib_old", "doc") == {}
        assert remaining.read("iaib_now", "doc") == {"0": "{}"}
        assert remaining.read("iaib_slow", "doc") == {"0": "{}", "1": "{}"}
        # The submission goes on: its meta binds it, and from then on its age no longer matters.
        DatabaseBatchStore(engine, batch_id="b-1", members=["j-1"]).put("iaib_now", {("meta", "job"): "{}"})
        assert purge(engine, context.settings, now=later(30)) == Purged(batch_records=2)  # iaib_slow's
        assert remaining.read("iaib_now", "doc") == {"0": "{}"}
        (row,) = [row for row in read_audit(engine) if row.action == "purge"][-1:]
    assert row.detail is not None and row.detail.endswith(", Message Batches records 2, leases 0")


def test_a_closed_batchs_leftover_records_go_a_running_ones_stay(database_url: str, tmp_path: Path) -> None:
    with opened(tmp_path, database_url) as context:
        engine = context.engine
        with engine.begin() as connection:
            add_message_batch(connection, "b-done")
            add_message_batch(connection, "b-running")
        for batch_id in ("b-done", "b-running"):
            DatabaseBatchStore(engine, batch_id=batch_id, members=["j"]).put(
                f"iaib_{batch_id}", {("meta", "job"): "{}", ("doc", "0"): "{}"}
            )
            date_back(context, f"iaib_{batch_id}", 10)  # a running batch may be looked at for days
        with engine.begin() as connection:  # its close could not delete the library job
            connection.execute(
                update(message_batches).where(message_batches.c.batch_id == "b-done").values(state="done")
            )
            connection.execute(
                update(message_batches).where(message_batches.c.batch_id == "b-running").values(state="running")
            )
        assert purge(engine, context.settings) == Purged(batch_records=2)
        assert DatabaseBatchStore(engine).jobs() == ["iaib_b-running"]


def test_leases_that_expired_a_day_ago_go(database_url: str, tmp_path: Path) -> None:
    with opened(tmp_path, database_url) as context:
        engine = context.engine
        batch_store = DatabaseBatchStore(engine)
        for job in ("iaib_held", "iaib_lapsed", "iaib_dead"):
            assert batch_store.lease(job, "collector-1", 60)
        with engine.begin() as connection:
            connection.execute(
                update(batch_leases).where(batch_leases.c.job == "iaib_lapsed").values(expires=time.time() - 60)
            )
            connection.execute(
                update(batch_leases).where(batch_leases.c.job == "iaib_dead").values(expires=time.time() - 2 * 86400)
            )
        assert purge(engine, context.settings) == Purged(batch_leases=1)
        with engine.begin() as connection:
            assert sorted(connection.execute(select(batch_leases.c.job)).scalars()) == ["iaib_held", "iaib_lapsed"]
        assert batch_store.lease("iaib_dead", "collector-2", 60)  # free, as an expired lease was


def message_batch(context: ServiceContext, labels: str) -> tuple[str, list[str]]:
    """A service batch sent through the Message Batches API, closed, whose jobs ended."""
    submissions = [
        store.Submission(f"{label}.png", document=Document(data=png_invoice(label), media_type="image/png", name=label))
        for label in labels
    ]
    batch, _ = store.create_batch(context.engine, OWNER, submissions, message_batches=True)
    members = [str(job["id"]) for job in store.job_rows_of_batch(context.engine, batch["id"])]
    with context.engine.begin() as connection:
        connection.execute(
            update(jobs).where(jobs.c.batch_id == batch["id"]).values(status="succeeded", finished_at=utcnow())
        )
        connection.execute(
            update(message_batches).where(message_batches.c.batch_id == batch["id"]).values(state="done")
        )
    return str(batch["id"]), members


def test_a_batch_the_purge_deletes_takes_its_library_records_and_lease(database_url: str, tmp_path: Path) -> None:
    with opened(tmp_path, database_url, upload_retention_days=0, job_retention_days=0.5) as context:
        engine = context.engine
        batch_id, members = message_batch(context, "abc")
        other_id, other_members = message_batch(context, "d")
        records = {("meta", "job"): "{}", **{("doc", str(index)): "{}" for index in range(4)}}
        DatabaseBatchStore(engine, batch_id=batch_id, members=members).put("iaib_gone", records)
        assert DatabaseBatchStore(engine).lease("iaib_gone", "collector-1", 60)
        DatabaseBatchStore(engine, batch_id=other_id, members=other_members).put("iaib_other", {("meta", "job"): "{}"})
        with engine.begin() as connection:  # the other batch is younger: it stays
            connection.execute(update(jobs).where(jobs.c.batch_id == other_id).values(finished_at=later(1)))
            connection.execute(update(batches).where(batches.c.id == other_id).values(created_at=later(1)))
        # Twelve hours on: younger than a day, so only the batch's deletion can take the records.
        assert purge(engine, context.settings, now=later(0.6), chunk=2) == Purged(
            jobs=3, batches=1, batch_records=5, batch_leases=1
        )
        assert DatabaseBatchStore(engine).jobs() == ["iaib_other"]
        assert count(context, batch_leases) == 0
        assert count(context, message_batches) == 1


def test_a_batch_whose_records_are_not_all_deleted_yet_is_kept(database_url: str, tmp_path: Path) -> None:
    import threading

    with opened(tmp_path, database_url, upload_retention_days=0, job_retention_days=0.5) as context:
        engine = context.engine
        batch_id, members = message_batch(context, "ab")
        records = {("meta", "job"): "{}", **{("doc", str(index)): "{}" for index in range(3)}}
        DatabaseBatchStore(engine, batch_id=batch_id, members=members).put("iaib_gone", records)
        stop = threading.Event()
        transactions: list[int] = []
        real_begin = engine.begin

        def counting_begin() -> Any:
            transactions.append(1)
            if (
                len(transactions) == 3
            ):  # after two of jobs (2, then none), the first of records: it ends, no other starts
                stop.set()
            return real_begin()

        engine.begin = counting_begin  # type: ignore[method-assign]
        try:
            purged = purge(engine, context.settings, now=later(0.6), chunk=2, stop=stop)
        finally:
            del engine.begin
        assert purged == Purged(jobs=2, batch_records=2)
        assert count(context, batches) == 1 and count(context, message_batches) == 1  # the batch waits for them
        assert purge(engine, context.settings, now=later(0.6), chunk=2) == Purged(batches=1, batch_records=2)
        assert count(context, batch_records) == 0 and count(context, message_batches) == 0


def test_an_orphan_written_to_or_bound_after_the_scan_keeps_its_records(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from invoiceai.server import message_batches_store

    with opened(tmp_path, database_url) as context:
        engine = context.engine
        with engine.begin() as connection:
            add_message_batch(connection, "b-bound")
        for job in ("iaib_written", "iaib_bound", "iaib_gone"):
            DatabaseBatchStore(engine).put(job, {("doc", "0"): "{}", ("doc", "1"): "{}"})
            date_back(context, job, 2)
        real_scan = message_batches_store.orphan_jobs

        def scan_then_write(connection: Any, cutoff: datetime) -> list[str]:
            found = real_scan(connection, cutoff)
            # Between the scan and the deletes: one job gets a new record, a live batch comes to
            # refer to another (no record written: each re-check must hold on its own).
            DatabaseBatchStore(engine).add("iaib_written", {("doc", "2"): "{}"})
            with engine.begin() as connection:
                connection.execute(update(message_batches).values(job_id="iaib_bound", state="running"))
            return found

        monkeypatch.setattr(message_batches_store, "orphan_jobs", scan_then_write)
        assert purge(engine, context.settings, chunk=1) == Purged(batch_records=2)
        remaining = DatabaseBatchStore(engine)
        assert remaining.read("iaib_gone", "doc") == {}
        assert remaining.read("iaib_written", "doc") == {"0": "{}", "1": "{}", "2": "{}"}
        assert remaining.read("iaib_bound", "doc") == {"0": "{}", "1": "{}"}


def test_the_orphan_sweep_finds_its_jobs_once_per_purge(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from invoiceai.server import message_batches_store

    with opened(tmp_path, database_url) as context:
        for job in ("iaib_a", "iaib_b"):
            DatabaseBatchStore(context.engine).put(job, {("doc", str(index)): "{}" for index in range(5)})
            date_back(context, job, 2)
        scans: list[list[str]] = []
        real_scan = message_batches_store.orphan_jobs

        def counted(connection: Any, cutoff: datetime) -> list[str]:
            scans.append(real_scan(connection, cutoff))
            return scans[-1]

        monkeypatch.setattr(message_batches_store, "orphan_jobs", counted)
        assert purge(context.engine, context.settings, chunk=2) == Purged(batch_records=10)
        assert scans == [["iaib_a", "iaib_b"]]  # not once per chunk: each chunk tests its one job again
        assert count(context, batch_records) == 0
