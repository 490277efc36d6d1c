"""Durable webhooks (invoiceai.server.outbox): the delivery row, leased attempts, restarts, give-up.

Receivers run on 127.0.0.1 (private URLs are allowed for these tests); nothing leaves the machine.
Time is injected where the backoff matters (``now=``), so no test waits for a retry's delay.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from documents_factory import example_invoice, png_invoice
from invoiceai.extractor import Extractor
from invoiceai.server import leases, store
from invoiceai.server.audit import read_audit
from invoiceai.server.clock import utcnow
from invoiceai.server.context import ServiceContext
from invoiceai.server.outbox import (
    DELIVERED,
    GAVE_UP,
    PENDING,
    Deliverer,
    Policy,
    Sent,
    claim_due,
    enqueue,
    settle,
    webhook_deliveries,
)
from invoiceai.server.webhooks import ATTEMPT_HEADER, DELIVERY_HEADER, SIGNATURE_HEADER, WebhookAttempt, verify
from invoiceai.testing import FakeBackend
from server_helpers import client, serving, settings_for
from webhook_receiver import Receiver

SECRET = "whsec_outbox-test-0123456789"


@pytest.fixture(autouse=True)
def private_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    # The receivers are on 127.0.0.1, which the SSRF guard refuses unless private URLs are allowed.
    monkeypatch.setenv("INVOICEAI_ALLOW_PRIVATE_URLS", "1")


def fake_extractor() -> Extractor:
    return Extractor(backend=FakeBackend(default=example_invoice()), cache=None)


@contextmanager
def opened(tmp_path: Path, database_url: str | None = None, **changes: Any) -> Iterator[ServiceContext]:
    values: dict[str, Any] = {"webhook_secret": SECRET, "workers": 0, **changes}
    if database_url is not None:
        values["database_url"] = database_url
    context = ServiceContext(settings_for(tmp_path, **values), extractor=fake_extractor())
    try:
        yield context
    finally:
        context.close()


def a_job(number: int, url: str | None) -> dict[str, Any]:
    return {"id": f"job-{number}", "owner": "key_1", "batch_id": None, "document_sha256": "ab" * 32,
            "callback_url": url}  # fmt: skip


def queue(context: ServiceContext, *jobs: dict[str, Any], status: str = "succeeded") -> None:
    with context.engine.begin() as connection:
        for job in jobs:
            enqueue(connection, job, status)


def rows(context: ServiceContext) -> dict[str, Any]:
    with context.engine.begin() as connection:
        return {row["id"]: row for row in connection.execute(webhook_deliveries.select()).mappings()}


def webhook_audit(context: ServiceContext, job_id: str) -> list[str]:
    return [row.outcome for row in read_audit(context.engine, job_id=job_id) if row.action == "webhook"]


def report(number: int, status: int | None) -> WebhookAttempt:
    ok = status is not None and 200 <= status < 300
    return WebhookAttempt("https://hooks.example.com/cb", number, status, None if ok else f"HTTP {status}", 0.1)


# --- the delivery row ------------------------------------------------------------------------------


def test_ending_a_job_writes_its_delivery_in_the_same_transaction(database_url: str, tmp_path: Path) -> None:
    from invoiceai.documents import Document

    with opened(tmp_path, database_url) as context:
        document = Document(data=png_invoice("1"), media_type="image/png", name="a.png")
        hook = "https://hooks.example.com/cb?token=x"
        ran, _ = store.create_job(
            context.engine, "key_1", store.Submission("a.png", document=document, callback_url=hook)
        )
        kept, _ = store.create_job(context.engine, "key_1", store.Submission("b", url="https://e.com/b.pdf",
                                                                              callback_url=hook))  # fmt: skip
        spent, _ = store.create_job(context.engine, "key_1", store.Submission("c", url="https://e.com/c.pdf",
                                                                               callback_url=hook))  # fmt: skip
        none, _ = store.create_job(context.engine, "key_1", store.Submission("d", url="https://e.com/d.pdf"))
        claim = leases.claim(context.engine, ran["id"], "w1", 30)
        assert claim is not None
        assert leases.finish(context.engine, claim, leases.Outcome(status="succeeded", result="{}"))
        store.cancel(context.engine, kept["id"], "key_1")
        context.engine.dispose()
        with context.engine.begin() as connection:  # claimed once already and its worker died
            connection.execute(update(leases.jobs).where(leases.jobs.c.id == spent["id"]).values(attempt=1))
        assert leases.claim(context.engine, spent["id"], "w2", 30, max_attempts=1) is None
        assert store.cancel(context.engine, none["id"], "key_1")[1]
        found = rows(context)
    assert {key: (row["status"], row["state"], row["url"]) for key, row in found.items()} == {
        f"{ran['id']}:succeeded": ("succeeded", PENDING, hook),
        f"{kept['id']}:canceled": ("canceled", PENDING, hook),
        f"{spent['id']}:failed": ("failed", PENDING, hook),
    }  # the job without a callback URL has none


def test_a_delivery_is_written_once_per_job_and_status(tmp_path: Path) -> None:
    with opened(tmp_path) as context:
        queue(context, a_job(1, "https://hooks.example.com/a"))
        queue(context, a_job(1, "https://hooks.example.com/b"))
        queue(context, a_job(2, None))
        queue(context, a_job(1, "https://hooks.example.com/a"), status="canceled")
        assert sorted(rows(context)) == ["job-1:canceled", "job-1:succeeded"]
        assert rows(context)["job-1:succeeded"]["url"] == "https://hooks.example.com/a"  # the first one wins


# --- leased attempts ---------------------------------------------------------------------------------


def test_a_failed_attempt_is_retried_after_the_backoff_then_delivered(tmp_path: Path) -> None:
    policy = Policy(attempts=5, backoff_s=10.0)
    with opened(tmp_path) as context:
        queue(context, a_job(1, "https://hooks.example.com/cb?token=x"))
        now = utcnow()
        (first,) = claim_due(context.engine, "w1", policy, now=now)
        assert (first.number, "token" not in repr(first)) == (1, True)
        assert settle(context.engine, first, Sent(report(1, 500), delivered=False), policy, now=now) == PENDING
        due = rows(context)["job-1:succeeded"]["next_attempt_at"]
        assert now + timedelta(seconds=5) <= due <= now + timedelta(seconds=10)
        assert claim_due(context.engine, "w1", policy, now=now + timedelta(seconds=4)) == []  # not yet
        (second,) = claim_due(context.engine, "w2", policy, now=due)
        assert second.number == 2
        assert settle(context.engine, second, Sent(report(2, 204), delivered=True), policy, now=due) == DELIVERED
        row = rows(context)["job-1:succeeded"]
        assert (row["state"], row["url"], row["attempts"], row["lease_owner"]) == (DELIVERED, None, 2, None)
        assert claim_due(context.engine, "w1", policy, now=due + timedelta(days=1)) == []
        assert webhook_audit(context, "job-1") == ["failed", "delivered"]


def test_retry_after_is_a_floor_on_the_next_attempt(tmp_path: Path) -> None:
    policy = Policy(attempts=3, backoff_s=1.0)
    with opened(tmp_path) as context:
        queue(context, a_job(1, "https://hooks.example.com/cb"))
        now = utcnow()
        (claimed,) = claim_due(context.engine, "w1", policy, now=now)
        settle(context.engine, claimed, Sent(report(1, 429), delivered=False, retry_after=30), policy, now=now)
        assert rows(context)["job-1:succeeded"]["next_attempt_at"] >= now + timedelta(seconds=30)


def test_it_gives_up_after_webhook_attempts_and_drops_the_url(database_url: str, tmp_path: Path) -> None:
    policy = Policy(attempts=3, backoff_s=1.0)
    with opened(tmp_path, database_url) as context:
        queue(context, a_job(1, "https://hooks.example.com/cb?token=x"))
        now = utcnow()
        states = []
        for number in (1, 2, 3):
            (claimed,) = claim_due(context.engine, f"w{number}", policy, now=now)
            assert claimed.number == number
            states.append(settle(context.engine, claimed, Sent(report(number, 500), delivered=False), policy, now=now))
            now += timedelta(minutes=5)
        assert states == [PENDING, PENDING, GAVE_UP]
        assert claim_due(context.engine, "w9", policy, now=now + timedelta(days=1)) == []
        row = rows(context)["job-1:succeeded"]
        assert (row["state"], row["url"], row["attempts"], row["last_error"]) == (GAVE_UP, None, 3, "HTTP 500")
        assert webhook_audit(context, "job-1") == ["failed", "failed", "failed", "gave_up"]


def test_a_refused_url_is_given_up_at_once(tmp_path: Path) -> None:
    policy = Policy(attempts=5)
    refused = WebhookAttempt("http://10.0.0.1/cb", 1, None, "refused: private address", 0.0)
    with opened(tmp_path) as context:
        queue(context, a_job(1, "http://10.0.0.1/cb"))
        (claimed,) = claim_due(context.engine, "w1", policy)
        assert settle(context.engine, claimed, Sent(refused, delivered=False, refused=True), policy) == GAVE_UP
        assert rows(context)["job-1:succeeded"]["url"] is None


def test_an_attempt_whose_process_died_is_claimed_again_after_its_lease(database_url: str, tmp_path: Path) -> None:
    policy = Policy(attempts=2, timeout_s=10.0)
    with opened(tmp_path, database_url) as context:
        queue(context, a_job(1, "https://hooks.example.com/cb"))
        now = utcnow()
        (dead,) = claim_due(context.engine, "dead", policy, now=now)  # never settled: the process died
        assert claim_due(context.engine, "alive", policy, now=now + timedelta(seconds=10)) == []  # leased
        later = now + timedelta(seconds=policy.lease_seconds + 1)
        (taken,) = claim_due(context.engine, "alive", policy, now=later)
        assert (dead.number, taken.number) == (1, 2)
        # The dead process's late report changes nothing: the row is the new holder's.
        assert settle(context.engine, dead, Sent(report(1, 204), delivered=True), policy, now=later) == "lost"
        assert rows(context)["job-1:succeeded"]["lease_owner"] == "alive"
        # The last attempt's holder dies too: the delivery is given up, not claimed a third time.
        assert claim_due(context.engine, "third", policy, now=later + timedelta(seconds=policy.lease_seconds + 1)) == []
        row = rows(context)["job-1:succeeded"]
        assert (row["state"], row["url"]) == (GAVE_UP, None)
        assert webhook_audit(context, "job-1")[-1] == "gave_up"


def test_two_deliverers_never_claim_the_same_attempt(database_url: str, tmp_path: Path) -> None:
    policy = Policy(attempts=3)
    with opened(tmp_path, database_url) as one, opened(tmp_path, database_url) as two:
        queue(one, *(a_job(number, "https://hooks.example.com/cb") for number in range(40)))
        start = threading.Barrier(2)
        got: dict[str, list[str]] = {}

        def drain(context: ServiceContext, name: str) -> None:
            start.wait(10)
            got[name] = []
            while batch := claim_due(context.engine, name, policy, limit=5):
                got[name] += [claimed.row["id"] for claimed in batch]

        threads = [threading.Thread(target=drain, args=(one, "one")), threading.Thread(target=drain, args=(two, "two"))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert not set(got["one"]) & set(got["two"])
    assert sorted(got["one"] + got["two"]) == sorted(f"job-{number}:succeeded" for number in range(40))


# --- the deliverer thread, end to end ---------------------------------------------------------------


def test_two_running_deliverers_send_each_attempt_once(database_url: str, tmp_path: Path) -> None:
    with (
        Receiver(failures=1).running() as receiver,
        opened(tmp_path, database_url, webhook_backoff_seconds=0.01) as one,
        opened(tmp_path, database_url, webhook_backoff_seconds=0.01) as two,
    ):
        queue(one, *(a_job(number, receiver.url) for number in range(12)))
        deliverers = [Deliverer(one, poll_seconds=0.05), Deliverer(two, poll_seconds=0.05)]
        for deliverer in deliverers:
            deliverer.start()
        try:
            assert receiver.wait_for(12)
        finally:
            for deliverer in deliverers:
                deliverer.stop()  # after the attempts in flight are recorded
        assert {row["state"] for row in rows(one).values()} == {DELIVERED}
    sent = receiver.attempts()
    assert len(sent) == len(set(sent)) == 24  # each delivery: attempt 1 (500), attempt 2 (204)
    assert sorted(sent) == sorted((f"job-{n}:succeeded", a) for n in range(12) for a in ("1", "2"))
    for headers, body in receiver.calls:
        assert verify(body, headers[SIGNATURE_HEADER.lower()], SECRET)


def test_a_restarted_service_finishes_a_delivery_the_stopped_one_began(tmp_path: Path) -> None:
    # The first service's backoff is an hour: it is stopped between the first and second attempt.
    first = settings_for(tmp_path, auth=False, webhook_secret=SECRET, webhook_backoff_seconds=3600.0)
    with Receiver(failures=1).running() as receiver:
        with serving(first, extractor=fake_extractor()) as (server, _):
            job = client(server).post(
                "/v1/documents?wait=20", data={"callback_url": receiver.url},
                files={"file": ("a.png", png_invoice("1"), "image/png")},
            ).json()  # fmt: skip
            assert job["status"] == "succeeded"
            assert receiver.arrived.wait(30)
        # Stopping waited for the attempt in flight to be recorded: pending, due in an hour.
        assert _stored(first, job["id"])[0]["state"] == PENDING
        assert receiver.attempts() == [(f"{job['id']}:succeeded", "1")]
        _time_passes(first)  # while no service runs
        with serving(first, extractor=fake_extractor()):
            assert receiver.delivered.wait(30)
    row, outcomes = _stored(first, job["id"])
    assert receiver.attempts() == [(f"{job['id']}:succeeded", "1"), (f"{job['id']}:succeeded", "2")]
    assert (row["state"], row["url"]) == (DELIVERED, None)
    assert outcomes == ["failed", "delivered"]
    assert all(verify(body, headers[SIGNATURE_HEADER.lower()], SECRET) for headers, body in receiver.calls)
    assert {headers[DELIVERY_HEADER.lower()] for headers, _ in receiver.calls} == {f"{job['id']}:succeeded"}
    assert [headers[ATTEMPT_HEADER.lower()] for headers, _ in receiver.calls] == ["1", "2"]


def _stored(settings: Any, job_id: str) -> tuple[Any, list[str]]:
    """The delivery row of the job's success, and its webhook audit outcomes, read with a fresh engine."""
    from invoiceai.server.db import open_engine

    engine = open_engine(settings.database_url)
    try:
        with engine.begin() as connection:
            query = webhook_deliveries.select().where(webhook_deliveries.c.id == f"{job_id}:succeeded")
            row = connection.execute(query).mappings().one()
        return row, [audit.outcome for audit in read_audit(engine, job_id=job_id) if audit.action == "webhook"]
    finally:
        engine.dispose()


def _time_passes(settings: Any) -> None:
    """Makes every pending attempt due now, as if its backoff had run out while no service ran."""
    from invoiceai.server.db import open_engine

    engine = open_engine(settings.database_url)
    try:
        with engine.begin() as connection:
            pending = webhook_deliveries.c.state == PENDING
            connection.execute(update(webhook_deliveries).where(pending).values(next_attempt_at=utcnow()))
    finally:
        engine.dispose()


@pytest.mark.allow_stderr  # the service logs the give-up, on purpose
def test_a_url_the_guard_refuses_is_given_up_without_a_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("INVOICEAI_ALLOW_PRIVATE_URLS", "0")  # loopback is refused again
    with Receiver().running() as receiver, opened(tmp_path) as context:
        queue(context, a_job(1, receiver.url))
        assert Deliverer(context).run_once() == 1
        row = rows(context)["job-1:succeeded"]
        outcomes = webhook_audit(context, "job-1")
        details = [audit.detail or "" for audit in read_audit(context.engine, job_id="job-1")]
    assert receiver.calls == []
    assert (row["state"], row["url"], row["attempts"]) == (GAVE_UP, None, 1)
    assert outcomes == ["failed", "gave_up"]
    assert details[0].startswith("attempt 1: no answer in ") and "refused:" in details[0]
    assert all("t0ps3cret" not in detail for detail in details)
    (logged,) = [record.getMessage() for record in caplog.records if record.name == "invoiceai.server"]
    assert logged.startswith("gave up the webhook of job job-1 after 1 attempt(s): refused:")
    assert "t0ps3cret" not in logged  # the URL's query is never logged


def test_the_row_never_holds_the_secret_and_drops_the_url_once_delivered(tmp_path: Path) -> None:
    with Receiver().running() as receiver, opened(tmp_path) as context:
        queue(context, a_job(1, receiver.url))
        pending = dict(rows(context)["job-1:succeeded"])
        assert Deliverer(context).run_once() == 1
        done = dict(rows(context)["job-1:succeeded"])
    assert pending["url"] == receiver.url  # needed until delivered
    assert (done["state"], done["url"], done["lease_owner"]) == (DELIVERED, None, None)
    for row in (pending, done):
        assert not any(SECRET in str(value) for value in row.values())
    (headers, body) = receiver.calls[0]
    assert verify(body, headers[SIGNATURE_HEADER.lower()], SECRET)
    assert body == b'{"job_id":"job-1","status":"succeeded"}'
