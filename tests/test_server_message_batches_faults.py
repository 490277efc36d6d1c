"""A Message Batch that cannot go on ends, and nothing it leaves behind is lost or orphaned (fake API on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select

from claude_fakes import settings
from documents_factory import png_invoice
from invoiceai.backends import ClaudeBackend
from invoiceai.documents import Document
from invoiceai.extractor import Extractor
from invoiceai.server import message_batches as driver
from invoiceai.server.audit import read_audit
from invoiceai.server.clock import utcnow
from invoiceai.server.message_batches_store import DatabaseBatchStore, batch_records, message_batches
from invoiceai.server.settings import ServiceSettings
from invoiceai.testing import FakeBackend, ItemFault
from invoiceai.testing.plans import error_plan
from server_helpers import client, new_key, serving, settings_for
from test_server_message_batches import claude_extractor, creates, drive_now, fake_claude, submit


def batch_row(context: Any) -> Any:
    with context.engine.begin() as connection:
        return connection.execute(message_batches.select()).mappings().one()


def outcomes(http: Any, batch: dict[str, Any]) -> list[tuple[str, str | None]]:
    views = [http.get(f"/v1/jobs/{job['id']}").json() for job in batch["jobs"]]
    return [(view["status"], (view["error"] or {}).get("type")) for view in views]


@contextmanager
def held_batches(tmp_path: Path, service: ServiceSettings | None = None) -> Iterator[tuple[Any, Any, Any]]:
    """``(api, context, http)``: a service whose Message Batches stay in progress until ``api.batches.end()``."""
    with fake_claude() as (api, base_url):
        api.batches.auto_end = False
        service = service or settings_for(tmp_path, workers=0)
        with serving(service, extractor=claude_extractor(base_url)) as (server, context):
            yield api, context, client(server, new_key(context)[1])


@pytest.mark.allow_stderr  # the driver warns that it gives the batch up, on purpose
def test_a_refused_api_key_fails_the_jobs_and_closes_the_batch(tmp_path: Path, database_url: str) -> None:
    service = settings_for(tmp_path, database_url=database_url, workers=0)
    with fake_claude() as (api, base_url):
        api.batches._create = lambda parsed, base, rid: error_plan(
            401, "authentication_error", "invalid x-api-key", rid
        )
        with serving(service, extractor=claude_extractor(base_url)) as (server, context):
            http = client(server, new_key(context)[1])
            batch = submit(http, 2)
            drive_now(context)
            assert drive_now(context) == 0  # closed: never looked at again
            ended, row = outcomes(http, batch), batch_row(context)
            assert DatabaseBatchStore(context.engine).jobs() == []
        assert creates(api) == 1
    assert ended == [("failed", "AuthenticationError")] * 2
    assert row["state"] == "done" and "401" in row["last_error"]


def test_a_service_restarted_with_another_max_reasks_collects_as_the_batch_was_sent(tmp_path: Path) -> None:
    def extractor(base_url: str, **changes: Any) -> Extractor:
        backend = ClaudeBackend(base_url=base_url, api_key="sk-ant-test", settings=settings(max_attempts=3, **changes))
        return Extractor(backend=backend, cache=None)

    service = settings_for(tmp_path, workers=0)
    with fake_claude() as (api, base_url):
        api.batches.auto_end = False
        with serving(service, extractor=extractor(base_url)) as (server, context):
            key = new_key(context)[1]
            batch = submit(client(server, key), 2)
            drive_now(context)
        api.batches.end()
        with serving(service, extractor=extractor(base_url, max_reasks=0)) as (server, context):
            drive_now(context)
            assert drive_now(context) == 0
            ended = outcomes(client(server, key), batch)
            row = batch_row(context)
    assert ended == [("succeeded", None)] * 2
    assert (row["state"], row["last_error"]) == ("done", None)


@pytest.mark.allow_stderr
def test_a_service_restarted_with_another_input_mode_fails_the_jobs_with_what_to_do(tmp_path: Path) -> None:
    def extractor(base_url: str, mode: Any) -> Extractor:
        backend = ClaudeBackend(base_url=base_url, api_key="sk-ant-test", settings=settings(max_attempts=3), mode=mode)
        return Extractor(backend=backend, cache=None)

    service = settings_for(tmp_path, workers=0)
    with fake_claude() as (api, base_url):
        api.batches.auto_end = False
        with serving(service, extractor=extractor(base_url, "images")) as (server, context):
            key = new_key(context)[1]
            batch = submit(client(server, key), 2)
            drive_now(context)
        api.batches.end()
        with serving(service, extractor=extractor(base_url, "text")) as (server, context):
            drive_now(context)
            assert drive_now(context) == 0
            ended = outcomes(client(server, key), batch)
            row = batch_row(context)
    assert ended == [("failed", "ConfigurationError")] * 2
    assert row["state"] == "done" and "different backend setup" in row["last_error"]


@pytest.mark.allow_stderr
def test_a_batch_whose_library_job_was_deleted_fails_its_jobs(tmp_path: Path) -> None:
    with held_batches(tmp_path) as (api, context, http):
        batch = submit(http, 2)
        drive_now(context)
        store = DatabaseBatchStore(context.engine)
        (job,) = store.jobs()
        context.extractor().delete_batch(job, force=True, batch_store=store)
        api.batches.end()
        drive_now(context)
        assert drive_now(context) == 0
        ended, row = outcomes(http, batch), batch_row(context)
    assert ended == [("failed", "ConfigurationError")] * 2
    assert row["state"] == "done" and "No batch job" in row["last_error"]


@pytest.mark.allow_stderr
def test_a_batch_whose_looks_keep_failing_is_given_up_after_the_deadline(tmp_path: Path) -> None:
    service = settings_for(tmp_path, workers=0, message_batches_give_up_hours=48.0)
    with fake_claude() as (api, base_url):
        api.batches._create = lambda parsed, base, rid: error_plan(529, "overloaded_error", "Overloaded", rid)
        with serving(service, extractor=claude_extractor(base_url)) as (server, context):
            http = client(server, new_key(context)[1])
            batch = submit(http, 2)
            drive_now(context)
            drive_now(context)
            before = [http.get(f"/v1/jobs/{job['id']}").json() for job in batch["jobs"]]
            assert batch_row(context)["state"] in ("waiting", "running")  # overloaded: it clears up, so it waits
            with context.engine.begin() as connection:
                connection.execute(message_batches.update().values(created_at=utcnow() - timedelta(hours=49)))
            drive_now(context)
            ended, row = outcomes(http, batch), batch_row(context)
            failed = http.get(f"/v1/jobs/{batch['jobs'][0]['id']}").json()["error"]["message"]
    # Nothing was sent, so nothing says it was: the jobs wait to be sent.
    assert [(job["status"], job["stage"]) for job in before] == [
        ("queued", "waiting to be sent in a Message Batch")
    ] * 2
    assert ended == [("failed", "MessageBatchAbandonedError")] * 2
    assert "48 hours" in failed and "Overloaded" in failed
    assert row["state"] == "done"


def test_retention_keeps_the_jobs_of_a_batch_still_driven_and_the_driver_skips_gone_ones(
    tmp_path: Path, database_url: str
) -> None:
    from invoiceai.server.models import jobs
    from invoiceai.server.retention import purge

    service = settings_for(tmp_path, database_url=database_url, workers=0, job_retention_days=1)
    with held_batches(tmp_path, service) as (api, context, http):
        api.batches.enqueue(None, ItemFault.expired())  # document 2 goes in a second round
        batch = submit(http, 2)
        first, second = (job["id"] for job in batch["jobs"])
        drive_now(context)
        api.batches.end()
        drive_now(context)
        assert [status for status, _ in outcomes(http, batch)] == ["succeeded", "running"]
        kept = purge(context.engine, service, now=utcnow() + timedelta(days=2))
        with context.engine.begin() as connection:  # gone all the same (an operator's DELETE, say)
            connection.execute(jobs.delete().where(jobs.c.id == first))
        api.batches.end()
        drive_now(context)
        row = batch_row(context)
        status = http.get(f"/v1/jobs/{second}").json()["status"]
        later = purge(context.engine, service, now=utcnow() + timedelta(days=2))
    assert kept.jobs == 0
    assert (status, row["state"], row["last_error"]) == ("succeeded", "done", None)
    assert later.jobs == 1  # the batch is closed: its jobs age out as any other


@pytest.mark.allow_stderr  # the second driver warns that its submission was refused, on purpose
def test_a_second_submission_of_a_service_batch_stores_nothing(tmp_path: Path) -> None:
    with held_batches(tmp_path) as (api, context, http):
        batch = submit(http, 3)
        waiting = driver._jobs(context.engine, batch["id"])
        driver._submit(context, batch["id"], waiting)  # driver A
        driver._submit(context, batch["id"], waiting)  # driver B, whose row lease had run out
        with context.engine.begin() as connection:
            owners = set(connection.execute(select(batch_records.c.job).distinct()).scalars())
        bound = batch_row(context)["job_id"]
        for _ in range(2):
            api.batches.end()
            drive_now(context)
        with context.engine.begin() as connection:
            left = connection.execute(select(func.count()).select_from(batch_records)).scalar()
    assert creates(api) == 1
    assert owners == {bound}  # the refused submission's documents are not left behind
    assert left == 0


def test_the_fleet_sweeper_leaves_queued_message_batch_jobs_to_the_driver(tmp_path: Path) -> None:
    from invoiceai.server.context import ServiceContext
    from invoiceai.server.fleet import resend_stale
    from invoiceai.server.models import jobs
    from invoiceai.server.store import Submission, create_batch, save_upload

    context = ServiceContext(settings_for(tmp_path, workers=0), extractor=Extractor(backend=FakeBackend(), cache=None))
    try:
        documents = [Document.from_bytes(png_invoice(str(n)), name=f"{n}.png") for n in range(2)]
        submissions = [Submission(source_name=d.name, upload=save_upload(context.engine, d)) for d in documents]
        create_batch(context.engine, "anonymous", submissions, message_batches=True)
        create_batch(context.engine, "anonymous", submissions[:1])  # a live one, lost as well
        with context.engine.begin() as connection:  # queued for 20 minutes: their tasks look lost
            connection.execute(jobs.update().values(created_at=utcnow() - timedelta(minutes=20)))
        sent: list[str] = []

        class Publisher:
            def send(self, ids: list[str]) -> None:
                sent.extend(ids)

        resent = resend_stale(context.engine, Publisher(), 900.0)
        with context.engine.begin() as connection:
            live = connection.execute(select(jobs.c.id).where(jobs.c.message_batch.is_not(True))).scalars().all()
    finally:
        context.close()
    assert resent == sent == list(live)


def test_queued_jobs_become_running_in_one_update_audited_once(tmp_path: Path, database_url: str) -> None:
    service = settings_for(tmp_path, database_url=database_url, workers=0)
    with held_batches(tmp_path, service) as (_api, context, http):
        batch = submit(http, 3)
        updates: list[str] = []

        def count(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
            if statement.lstrip().upper().startswith("UPDATE JOBS"):
                updates.append(statement)

        event.listen(context.engine, "before_cursor_execute", count)
        drive_now(context)
        drive_now(context)
        event.remove(context.engine, "before_cursor_execute", count)
        running = [
            entry for job in batch["jobs"] for entry in read_audit(context.engine, job_id=job["id"])
            if entry.action == "state:running"
        ]  # fmt: skip
    assert len(updates) == 2  # one per look, whatever the batch's size
    assert sorted(entry.job_id for entry in running) == sorted(job["id"] for job in batch["jobs"])


def test_a_canceled_job_is_not_sent_again_in_a_follow_up_round(tmp_path: Path) -> None:
    from invoiceai.backends.claude.batch.items import parse_custom_id

    with held_batches(tmp_path) as (api, context, http):
        api.batches.enqueue(ItemFault.errored("overloaded_error"), ItemFault.errored("overloaded_error"))
        batch = submit(http, 2)
        drive_now(context)
        http.delete(f"/v1/jobs/{batch['jobs'][0]['id']}")
        api.batches.end()  # both items errored: only the one still wanted goes again
        drive_now(context)
        api.batches.end()
        drive_now(context)
        resent = [parse_custom_id(custom_id) for custom_id in api.batches.submitted[2:]]
        ended, row = outcomes(http, batch), batch_row(context)
    assert [found[0] for found in resent if found is not None] == [1]
    assert ended == [("canceled", None), ("succeeded", None)]
    assert row["state"] == "done"


def test_a_batch_whose_jobs_are_all_canceled_is_canceled_at_the_api(tmp_path: Path) -> None:
    with held_batches(tmp_path) as (api, context, http):
        batch = submit(http, 2)
        drive_now(context)
        for job in batch["jobs"]:
            http.delete(f"/v1/jobs/{job['id']}")
        drive_now(context)
        row = batch_row(context)
        assert DatabaseBatchStore(context.engine).jobs() == []
    (sent,) = api.batches.batches.values()
    canceled = [r.path for r in api.requests if r.method == "POST" and r.path.endswith("/cancel")]
    assert canceled == [f"/v1/messages/batches/{sent.id}/cancel"] and sent.canceling
    assert row["state"] == "canceled" and creates(api) == 1


def test_a_look_with_nothing_to_send_opens_no_document(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import invoiceai.extractor.batch_jobs as batch_jobs

    opened: list[int] = []
    load_source = batch_jobs.load_source

    def counting(*args: Any, **kwargs: Any) -> Any:
        opened.append(1)
        return load_source(*args, **kwargs)

    with held_batches(tmp_path) as (api, context, http):
        batch = submit(http, 3)
        monkeypatch.setattr(batch_jobs, "load_source", counting)
        drive_now(context)  # sent: every document was opened (rendered) for its request
        sent = len(opened)
        for _ in range(3):  # the batch is still running: nothing to send, nothing to render
            drive_now(context)
        while_running = len(opened)
        api.batches.end()
        drive_now(context)
        ended = outcomes(http, batch)
    assert sent >= 3 and while_running == sent
    assert ended == [("succeeded", None)] * 3
