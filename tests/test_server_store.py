"""The job store on SQLite and on a throwaway PostgreSQL: claims, leases, exactly-once results, audit."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from documents_factory import example_invoice, png_invoice
from invoiceai.documents import Document
from invoiceai.extractor import Extractor
from invoiceai.server import leases, store
from invoiceai.server.audit import read_audit
from invoiceai.server.context import ServiceContext
from invoiceai.server.errors import QuotaExceededError
from invoiceai.server.keys import authenticate, create_key, list_keys, revoke_key
from invoiceai.server.models import jobs
from invoiceai.server.runner import run_job
from invoiceai.server.settings import ServiceSettings
from invoiceai.testing import FakeBackend

PASSWORD = "s3cret-Pa55word-xyz"


@pytest.fixture
def context(database_url: str) -> Iterator[ServiceContext]:
    settings = ServiceSettings(database_url=database_url, workers=0, cache="none", lease_seconds=60)
    extractor = Extractor(backend=FakeBackend(default=example_invoice()), cache=None)
    service = ServiceContext(settings, extractor=extractor)
    yield service
    service.close()


def submission(label: str = "1", **options: Any) -> store.Submission:
    document = Document.from_bytes(png_invoice(label), name=f"scan-{label}.png")
    return store.Submission(source_name=document.name, document=document, **options)


def test_racing_workers_claim_a_job_once(context: ServiceContext) -> None:
    row, _ = store.create_job(context.engine, "k", submission())
    barrier = threading.Barrier(4)
    claims: list[Any] = []

    def worker(number: int) -> None:
        barrier.wait()
        claims.append(leases.claim(context.engine, row["id"], f"w{number}", 60))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len([claim for claim in claims if claim is not None]) == 1


def test_an_expired_lease_is_taken_over_and_the_first_result_is_not_stored(context: ServiceContext) -> None:
    row, _ = store.create_job(context.engine, "k", submission())
    first = leases.claim(context.engine, row["id"], "dead-worker", 60)
    assert first is not None
    assert leases.claim(context.engine, row["id"], "w2", 60) is None  # the lease is live
    with context.engine.begin() as connection:  # the first worker was SIGKILLed an hour ago
        connection.execute(
            jobs.update().where(jobs.c.id == row["id"]).values(lease_expires=row["created_at"] - timedelta(hours=1))
        )
    assert leases.claimable(context.engine) == [row["id"]]
    second = leases.claim(context.engine, row["id"], "w2", 60)
    assert second is not None and second.attempt == 2
    outcome = leases.Outcome(status="succeeded", result="{}")
    assert leases.finish(context.engine, first, outcome) is False
    assert leases.finish(context.engine, second, outcome) is True
    assert leases.finish(context.engine, second, outcome) is False  # exactly once
    stored = [row.action for row in read_audit(context.engine, job_id=row["id"])]
    assert stored.count("state:succeeded") == 1
    assert stored.count("state:running") == 2


def test_run_job_stores_the_result_once_and_drops_the_password(context: ServiceContext, database_url: str) -> None:
    row, created = store.create_job(context.engine, "k", submission(password=PASSWORD, pages="1"))
    assert created
    assert PASSWORD not in repr(store.Submission(source_name="x", password=PASSWORD))
    assert run_job(row["id"], context) is True
    assert run_job(row["id"], context) is False  # a redelivered task finds it done
    done = store.get_job(context.engine, row["id"], "k")
    assert done is not None
    assert (done["status"], done["attempt"], done["password"]) == ("succeeded", 1, None)
    dump = _every_text_value(context)
    assert PASSWORD not in dump
    assert all(PASSWORD not in repr(audit_row) for audit_row in read_audit(context.engine))


def _every_text_value(context: ServiceContext) -> str:
    with context.engine.connect() as connection:
        values = []
        for table in ("jobs", "audit", "batches", "api_keys"):
            values.extend(str(row) for row in connection.execute(text(f"SELECT * FROM {table}")))
    return "\n".join(values)


def test_a_job_canceled_while_running_keeps_no_result(context: ServiceContext) -> None:
    row, _ = store.create_job(context.engine, "k", submission())
    claim = leases.claim(context.engine, row["id"], "w", 60)
    assert claim is not None
    canceled = store.cancel_job(context.engine, row["id"], "k")
    assert canceled is not None and canceled["status"] == "canceled"
    assert leases.finish(context.engine, claim, leases.Outcome(status="succeeded", result="{}")) is False
    assert store.cancel_job(context.engine, row["id"], "other-key") is None
    assert [r.outcome for r in read_audit(context.engine, job_id=row["id"]) if r.action == "cancel"] == ["ok"]


def test_the_default_idempotency_key_retries_a_failed_job(context: ServiceContext) -> None:
    first, _ = store.create_job(context.engine, "k", submission())
    same, created = store.create_job(context.engine, "k", submission())
    assert (same["id"], created) == (first["id"], False)
    other_pages, created = store.create_job(context.engine, "k", submission(pages="1"))
    assert created and other_pages["id"] != first["id"]
    theirs, created = store.create_job(context.engine, "someone-else", submission())
    assert created and theirs["id"] != first["id"]
    claim = leases.claim(context.engine, first["id"], "w", 60)
    assert claim is not None
    leases.finish(context.engine, claim, leases.Outcome(status="failed", result="{}", error_type="X"))
    retry, created = store.create_job(context.engine, "k", submission())
    assert created and retry["id"] != first["id"]
    explicit, _ = store.create_job(context.engine, "k", submission("2"), idempotency_key="key:a")
    assert store.create_job(context.engine, "k", submission("3"), idempotency_key="key:a")[0]["id"] == explicit["id"]


def test_the_daily_quota_counts_todays_documents(context: ServiceContext) -> None:
    store.create_job(context.engine, "k", submission("1"), daily_quota=2)
    store.create_batch(context.engine, "k", [submission("2")], daily_quota=2)
    with pytest.raises(QuotaExceededError) as refused:
        store.create_job(context.engine, "k", submission("3"), daily_quota=2)
    assert 0 < refused.value.retry_after <= 86401
    assert store.documents_today(context.engine, "k") == 2
    assert store.create_job(context.engine, "k2", submission("3"), daily_quota=2)[1]


def test_keys_are_stored_hashed_and_can_be_revoked(context: ServiceContext) -> None:
    key, secret = create_key(context.engine, "ci", daily_quota=5)
    assert secret.startswith("iai_") and len(secret) > 40
    assert secret not in _every_text_value(context)
    found = authenticate(context.engine, secret)
    assert found is not None and (found.id, found.daily_quota) == (key.id, 5)
    assert authenticate(context.engine, secret + "x") is None
    assert revoke_key(context.engine, key.id) is True
    assert revoke_key(context.engine, key.id) is False
    assert authenticate(context.engine, secret) is None
    assert [listed.id for listed in list_keys(context.engine)] == [key.id]


def _race(count: int, call: Any) -> list[Any]:
    """Runs ``call()`` in ``count`` threads released at once; their results (or exceptions)."""
    barrier = threading.Barrier(count)
    results: list[Any] = []

    def run() -> None:
        barrier.wait()
        try:
            results.append(call())
        except Exception as exc:  # the assertion below shows it
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.parametrize("key", [None, "key:order-1"])
def test_racing_identical_submissions_get_one_job(context: ServiceContext, key: str | None) -> None:
    url = store.Submission(source_name="x", url="https://example.com/race.pdf")
    results = _race(6, lambda: store.create_job(context.engine, "k", url, idempotency_key=key))
    assert all(isinstance(result, tuple) for result in results), results
    assert len({row["id"] for row, _ in results}) == 1
    assert sorted(created for _, created in results) == [False] * 5 + [True]


def test_racing_batches_with_one_key_get_one_batch(context: ServiceContext) -> None:
    documents = [submission(str(n)) for n in range(3)]
    results = _race(6, lambda: store.create_batch(context.engine, "k", documents, idempotency_key="batch-1"))
    assert all(isinstance(result, tuple) for result in results), results
    assert len({row["id"] for row, _ in results}) == 1
    assert sorted(created for _, created in results) == [False] * 5 + [True]
    assert len(store.job_rows_of_batch(context.engine, results[0][0]["id"])) == 3


SIGNED_URL = "https://user:urlpass@example.com/a.pdf?X-Amz-Signature=sig-0123456789"
CALLBACK = "https://example.com/hook?token=tok-0123456789"


def test_a_jobs_secrets_leave_the_store_when_it_ends(context: ServiceContext) -> None:
    ran, _ = store.create_job(context.engine, "k", submission(password=PASSWORD, callback_url=CALLBACK))
    fetched, _ = store.create_job(context.engine, "k", store.Submission(source_name="u", url=SIGNED_URL))
    canceled, _ = store.create_job(
        context.engine, "k", store.Submission(source_name="c", url=SIGNED_URL + "2", callback_url=CALLBACK + "c")
    )
    assert run_job(ran["id"], context) is True
    claim = leases.claim(context.engine, fetched["id"], "w", 60)
    assert claim is not None
    assert leases.finish(context.engine, claim, leases.Outcome(status="succeeded", result="{}"))
    assert claim.job["url"] == SIGNED_URL  # the worker's claim still has what it ran
    gone = store.cancel_job(context.engine, canceled["id"], "k")
    assert gone is not None and gone["status"] == "canceled"
    assert gone["callback_url"] == CALLBACK + "c"  # for the webhook, in memory only
    dump = _every_text_value(context)
    for secret in (PASSWORD, "urlpass", "sig-0123456789", "tok-0123456789"):
        assert secret not in dump
    again = store.cancel_job(context.engine, canceled["id"], "k")
    assert again is not None and again["callback_url"] is None


def test_a_claim_shows_no_secret_in_its_repr(context: ServiceContext) -> None:
    row, _ = store.create_job(context.engine, "k", submission(password=PASSWORD, callback_url=CALLBACK))
    claim = leases.claim(context.engine, row["id"], "w" * 300, 60)  # a long host name
    assert claim is not None
    assert PASSWORD not in repr(claim) and "tok-0123456789" not in repr(claim)
    assert claim.worker == "w" * leases.LEASE_OWNER_LENGTH


def _expire_lease(context: ServiceContext, job_id: str) -> None:
    with context.engine.begin() as connection:  # its worker was SIGKILLed an hour ago
        connection.execute(jobs.update().where(jobs.c.id == job_id).values(lease_expires=datetime(2000, 1, 1)))


def test_a_job_whose_workers_keep_dying_fails_after_max_attempts(database_url: str) -> None:
    settings = ServiceSettings(database_url=database_url, workers=0, cache="none", lease_seconds=60, max_attempts=2)
    service = ServiceContext(settings, extractor=Extractor(backend=FakeBackend(default=example_invoice()), cache=None))
    try:
        row, _ = store.create_job(service.engine, "k", submission(password=PASSWORD))
        for _ in range(2):
            assert leases.claim(service.engine, row["id"], "dying", 60, max_attempts=2) is not None
            _expire_lease(service, row["id"])
        assert run_job(row["id"], service) is False  # the third claim gives up
        failed = store.get_job(service.engine, row["id"], "k")
        assert failed is not None
        assert (failed["status"], failed["error_type"], failed["password"]) == (
            "failed",
            "AttemptsExhaustedError",
            None,
        )
        assert "2 times" in failed["error_message"]
        assert json.loads(failed["result"])["error"]["type"] == "AttemptsExhaustedError"
        assert [r.detail for r in read_audit(service.engine, job_id=row["id"]) if r.action == "state:failed"] == [
            "AttemptsExhaustedError"
        ]
    finally:
        service.close()


@pytest.mark.allow_stderr  # the pool warns that it gave a job back, on purpose
def test_stopping_the_pool_gives_back_the_jobs_still_running(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from invoiceai.server.workers import WorkerPool

    started, release = threading.Event(), threading.Event()

    def slow(call: Any) -> Any:
        started.set()
        release.wait(60)
        return example_invoice()

    settings = ServiceSettings(database_url=database_url, workers=1, cache="none", lease_seconds=60)
    service = ServiceContext(settings, extractor=Extractor(backend=FakeBackend(default=slow), cache=None))
    pool = WorkerPool(service, 1, grace_seconds=0)
    try:
        row, _ = store.create_job(service.engine, "k", submission())
        pool.start()
        pool.wake()
        assert started.wait(60)
        assert pool.stop() == 1  # no grace: given back at once, not waited for
        assert "gave back 1 job(s)" in caplog.text
        back = store.get_job(service.engine, row["id"], "k")
        assert back is not None and (back["status"], back["lease_owner"]) == ("queued", None)
        release.set()
        for thread in threading.enumerate():
            if thread.name.startswith("invoiceai-worker-"):
                thread.join(60)
        after = store.get_job(service.engine, row["id"], "k")
        assert after is not None and (after["status"], after["result"]) == ("queued", None)  # not stored
        assert leases.claimable(service.engine) == [row["id"]]
    finally:
        release.set()
        service.close()
