"""The fleet, end to end: API + 2 Celery workers + PostgreSQL + Redis, one worker SIGKILLed mid-run.

Runs in the normal suite; skipped (with the reason) where redis-server or PostgreSQL is not
installed. The processes are real: ``invoiceai serve --broker`` under uvicorn and two
``invoiceai worker`` processes, each in its own temporary directory; the fake Claude API is served
on a loopback port by this test, which counts every model call and which worker made it.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import create_engine, func, select

from documents_factory import example_invoice, png_invoice
from fleet_harness import batch_files, fleet_environment, running_fleet, worker_key
from invoiceai.server.models import audit, jobs
from invoiceai.testing import FakeClaudeAPI, Fault, RecordedRequest
from test_cache_redis import redis_url  # noqa: F401 - the session's redis-server fixture

pytestmark = [pytest.mark.fleet, pytest.mark.slow]

DOCUMENTS = 300
CONCURRENCY = 4  # threads per worker
FAULTS = 3  # overloaded answers the fake sends first; the backend retries them
KILL_AFTER = 25  # the killed worker's model call that is held until the worker is dead


def fingerprint(request: RecordedRequest) -> str:
    """Which document a model call was for: the hash of the page images it sent."""
    data = [block["source"].get("data", "") for block in _image_blocks(request.body)]
    return hashlib.sha256("".join(data).encode()).hexdigest()


def _image_blocks(body: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for message in body.get("messages") or []:
        for block in message.get("content") or []:
            if isinstance(block, dict) and block.get("type") == "image":
                found.append(block)
    return found


def stored_outcomes(database_url: str) -> tuple[Counter[str], dict[str, int], Counter[str], int]:
    """Jobs per status, each job's attempts, ``state:succeeded`` audit rows per job, stored results."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            statuses = Counter(connection.execute(select(jobs.c.status)).scalars())
            attempts = {row.id: row.attempt for row in connection.execute(select(jobs.c.id, jobs.c.attempt))}
            stored = Counter(
                connection.execute(select(audit.c.job_id).where(audit.c.action == "state:succeeded")).scalars()
            )
            results = connection.execute(select(func.count()).where(jobs.c.result.is_not(None))).scalar_one()
    finally:
        engine.dispose()
    return statuses, attempts, stored, int(results)


class KillSwitch:
    """Holds the killed worker's ``KILL_AFTER``-th model call until the test has SIGKILLed it."""

    def __init__(self) -> None:
        self.reached, self.killed = threading.Event(), threading.Event()
        self.calls: list[tuple[str, str, int]] = []  # (api key, document fingerprint, status) per call
        self._lock = threading.Lock()

    def __call__(self, request: RecordedRequest) -> None:
        if not request.path.endswith("/v1/messages"):
            return
        key = request.headers.get("x-api-key") or request.headers.get("authorization", "").removeprefix("Bearer ")
        with self._lock:
            self.calls.append((key, fingerprint(request), request.status))
            mine = sum(1 for caller, _, _ in self.calls if caller == worker_key(0))
        if key == worker_key(0) and mine == KILL_AFTER:
            self.reached.set()
            self.killed.wait(60)  # the worker dies while this call is in flight


def test_a_fleet_survives_a_worker_killed_mid_run(tmp_path: Path, postgres_database: str, redis_url: str) -> None:  # noqa: F811
    base = redis_url.rsplit("/", 1)[0]
    broker_url, cache_url = f"{base}/5", f"{base}/6"
    for url in (broker_url, cache_url):
        with redis.Redis.from_url(url) as connection:
            connection.flushdb()
    switch = KillSwitch()
    fake = FakeClaudeAPI(
        answer=example_invoice().model_dump(mode="json"), usage={"input_tokens": 900, "output_tokens": 300},
        latency=0.02, on_request=switch,
    )  # fmt: skip
    fake.enqueue(*[Fault.status_error(529) for _ in range(FAULTS)])
    documents = [png_invoice(f"fleet {n}", size=(200, 280)) for n in range(DOCUMENTS)]
    extra = {"INVOICEAI_SERVER_LEASE_SECONDS": "3", "INVOICEAI_SERVER_VISIBILITY_TIMEOUT": "6"}
    with fake.serve() as served:
        env = fleet_environment(
            database_url=postgres_database, broker_url=broker_url, cache_url=cache_url, fake_url=served.base_url,
            extra=extra,
        )  # fmt: skip
        with running_fleet(tmp_path, env, workers=2, concurrency=CONCURRENCY) as fleet, fleet.client() as api:
            created = api.post("/v1/batches", files=batch_files(documents))
            assert created.status_code == 202, created.text
            batch_id = created.json()["id"]
            assert switch.reached.wait(120), fleet.logs()
            fleet.workers[0].kill()
            switch.killed.set()
            lines = api.get(f"/v1/batches/{batch_id}/results").text.splitlines()  # ends when the batch does
            state = api.get(f"/v1/batches/{batch_id}").json()
            metrics = api.get("/metrics").text
            logs = fleet.logs()

    assert len(lines) == DOCUMENTS, logs
    assert [json.loads(line)["source"] for line in lines] == [f"doc-{n}.png" for n in range(DOCUMENTS)]
    assert state["counts"]["succeeded"] == DOCUMENTS, (state, logs)
    assert f'invoiceai_jobs{{state="succeeded"}} {float(DOCUMENTS)}' in metrics

    statuses, attempts, stored, results = stored_outcomes(postgres_database)
    assert statuses == {"succeeded": DOCUMENTS}
    assert results == DOCUMENTS
    assert set(stored.values()) == {1} and len(stored) == DOCUMENTS  # each result stored exactly once
    assert max(attempts.values()) >= 2  # the held call's job was claimed again after the kill

    calls = switch.calls
    assert len(calls) <= DOCUMENTS + FAULTS + CONCURRENCY, len(calls)
    assert fake.pending_faults == 0
    assert sum(1 for _, _, status in calls if status == 529) == FAULTS
    answered = Counter(document for _, document, status in calls if status == 200)
    assert len(answered) == DOCUMENTS
    # A document was answered twice only when the killed worker never got its first answer back
    # (at most one per thread it had): every other rerun was served by the shared result cache.
    twice = {document for document, count in answered.items() if count > 1}
    killed = {document for key, document, status in calls if key == worker_key(0) and status == 200}
    assert len(twice) <= CONCURRENCY and twice <= killed, (len(twice), len(twice - killed))
