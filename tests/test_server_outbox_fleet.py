"""Durable webhooks in a fleet: the workers' deliverers send them (the API process sends none).

Real processes, as in test_fleet.py: ``invoiceai serve --broker``, two ``invoiceai worker``,
PostgreSQL and Redis; skipped (with the reason) where redis-server or PostgreSQL is missing. The
receiver runs on 127.0.0.1 in this test.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine

from documents_factory import example_invoice, png_invoice
from fleet_harness import fleet_environment, running_fleet
from invoiceai.server.audit import read_audit
from invoiceai.testing import FakeClaudeAPI, RecordedRequest
from test_cache_redis import redis_url  # noqa: F401 - the session's redis-server fixture
from test_server_outbox import SECRET
from webhook_receiver import Receiver

pytestmark = [pytest.mark.fleet, pytest.mark.slow]


class Hold:
    """Holds model calls while ``holding`` is set, until ``release`` is: the job stays running."""

    def __init__(self) -> None:
        self.holding, self.arrived, self.release = threading.Event(), threading.Event(), threading.Event()

    def __call__(self, request: RecordedRequest) -> None:
        if self.holding.is_set() and request.path.endswith("/v1/messages"):
            self.arrived.set()
            self.release.wait(60)


def test_fleet_workers_deliver_the_webhooks_of_finished_and_canceled_jobs(
    tmp_path: Path,
    postgres_database: str,
    redis_url: str,  # noqa: F811
) -> None:
    base = redis_url.rsplit("/", 1)[0]
    broker_url, cache_url = f"{base}/7", f"{base}/8"
    for url in (broker_url, cache_url):
        with redis.Redis.from_url(url) as connection:
            connection.flushdb()
    hold = Hold()
    fake = FakeClaudeAPI(answer=example_invoice().model_dump(mode="json"), latency=0.01, on_request=hold)
    extra = {
        "INVOICEAI_SERVER_WEBHOOK_SECRET": SECRET, "INVOICEAI_SERVER_WEBHOOK_BACKOFF_SECONDS": "0.05",
        "INVOICEAI_ALLOW_PRIVATE_URLS": "1",  # the receiver is on 127.0.0.1
    }  # fmt: skip
    with fake.serve() as served, Receiver(failures=1).running() as receiver:
        env = fleet_environment(
            database_url=postgres_database, broker_url=broker_url, cache_url=cache_url, fake_url=served.base_url,
            extra=extra,
        )  # fmt: skip
        with running_fleet(tmp_path, env, workers=2, concurrency=2) as fleet, fleet.client() as api:
            hook = {"callback_url": receiver.url}
            done = api.post(
                "/v1/documents?wait=60", data=hook, files={"file": ("a.png", png_invoice("a"), "image/png")}
            )
            assert done.json()["status"] == "succeeded", fleet.logs()
            assert receiver.wait_for(1, 60), fleet.logs()
            hold.holding.set()
            held = api.post("/v1/documents", data=hook, files={"file": ("b.png", png_invoice("b"), "image/png")})
            assert hold.arrived.wait(60), fleet.logs()
            assert api.delete(f"/v1/jobs/{held.json()['id']}").json()["status"] == "canceled"
            hold.release.set()
            assert receiver.wait_for(2, 60), fleet.logs()  # sent by a worker: the API process has no deliverer
    engine = create_engine(postgres_database)
    try:
        succeeded = [row.outcome for row in read_audit(engine, job_id=done.json()["id"]) if row.action == "webhook"]
        canceled = [row.outcome for row in read_audit(engine, job_id=held.json()["id"]) if row.action == "webhook"]
    finally:
        engine.dispose()
    assert succeeded == ["failed", "delivered"]
    assert canceled == ["failed", "delivered"]
    assert [attempt for _, attempt in receiver.attempts()] == ["1", "2", "1", "2"]
    assert {delivery for delivery, _ in receiver.attempts()} == {
        f"{done.json()['id']}:succeeded",
        f"{held.json()['id']}:canceled",
    }
