"""How a fleet recovers, step by step and without processes: redelivery, the sweeper, the Celery task."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from documents_factory import example_invoice, png_invoice
from invoiceai.cache import MemoryCache
from invoiceai.documents import Document
from invoiceai.extractor import Extractor
from invoiceai.server import leases, store
from invoiceai.server.clock import utcnow
from invoiceai.server.context import ServiceContext
from invoiceai.server.fleet import QUEUE, TASK_NAME, FleetWorker, celery_app, resend_stale, worker_settings_problem
from invoiceai.server.models import jobs
from invoiceai.server.runner import run_job
from invoiceai.server.settings import ServiceSettings
from invoiceai.testing import FakeBackend

NO_BROKER = "redis://127.0.0.1:9/0"  # never connected to: these tests only build the Celery app


def settings(tmp_path: Path, **changes: Any) -> ServiceSettings:
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path / 'jobs.sqlite3'}", "workers": 0, "cache": "none",
        "lease_seconds": 30.0, "broker_url": NO_BROKER, "visibility_timeout": 60.0,
    }  # fmt: skip
    values.update(changes)
    return ServiceSettings(**values)


def queue_job(context: ServiceContext, label: str = "1") -> str:
    document = Document.from_bytes(png_invoice(label), name=f"scan-{label}.png")
    row, _ = store.create_job(context.engine, "k", store.Submission(source_name=document.name, document=document))
    return str(row["id"])


def set_job(context: ServiceContext, job_id: str, **values: Any) -> None:
    with context.engine.begin() as connection:
        connection.execute(jobs.update().where(jobs.c.id == job_id).values(**values))


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[ServiceContext, ServiceContext, FakeBackend]]:
    """Two workers' contexts on one job store and one shared result cache (as Redis is in a fleet)."""
    backend, cache = FakeBackend(default=example_invoice()), MemoryCache()
    first = ServiceContext(settings(tmp_path), extractor=Extractor(backend=backend, cache=cache))
    second = ServiceContext(settings(tmp_path), extractor=Extractor(backend=backend, cache=cache))
    yield first, second, backend
    first.close()
    second.close()


class Died(BaseException):
    """The worker process ending between the model's answer and storing it."""


def test_a_job_rerun_after_its_worker_died_costs_no_second_model_call(
    two_workers: tuple[ServiceContext, ServiceContext, FakeBackend], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second, backend = two_workers
    job_id = queue_job(first)
    finish = leases.finish

    def die(*args: Any) -> bool:
        raise Died

    monkeypatch.setattr(leases, "finish", die)
    with pytest.raises(Died):
        run_job(job_id, first)
    monkeypatch.setattr(leases, "finish", finish)
    assert run_job(job_id, second) is False  # the dead worker's lease still holds
    set_job(first, job_id, lease_expires=utcnow() - timedelta(seconds=1))
    assert run_job(job_id, second) is True
    assert run_job(job_id, first) is False  # stored once; a late duplicate does nothing
    row = store.get_job(second.engine, job_id, "k")
    assert row is not None
    assert (row["status"], row["attempt"]) == ("succeeded", 2)
    assert json.loads(row["result"])["cached"] is True
    assert len(backend.history) == 1


class RecordingPublisher:
    def __init__(self) -> None:
        self.sent: list[list[str]] = []

    def send(self, job_ids: Sequence[str]) -> None:
        self.sent.append(list(job_ids))


def test_the_sweeper_resends_the_jobs_of_dead_workers_and_lost_tasks_once(tmp_path: Path) -> None:
    context = ServiceContext(settings(tmp_path), extractor=Extractor(backend=FakeBackend(), cache=None))
    try:
        orphaned, lost, fresh, held = (queue_job(context, label) for label in "abcd")
        now = utcnow()
        set_job(
            context,
            orphaned,
            status="running",
            lease_expires=now - timedelta(seconds=1),
            enqueued_at=now - timedelta(seconds=5),
        )
        set_job(context, lost, enqueued_at=now - timedelta(seconds=120))
        set_job(context, fresh, enqueued_at=now)
        set_job(
            context,
            held,
            status="running",
            lease_expires=now + timedelta(seconds=30),
            enqueued_at=now - timedelta(seconds=5),
        )
        publisher = RecordingPublisher()
        first = resend_stale(context.engine, publisher, 60.0)  # type: ignore[arg-type]
        second = resend_stale(context.engine, publisher, 60.0)  # type: ignore[arg-type]
    finally:
        context.close()
    assert sorted(first) == sorted([orphaned, lost])
    assert second == []
    assert publisher.sent == [first]


def test_the_worker_task_runs_the_job_once(tmp_path: Path) -> None:
    context = ServiceContext(
        settings(tmp_path), extractor=Extractor(backend=FakeBackend(default=example_invoice()), cache=None)
    )
    worker = FleetWorker(context, concurrency=3)
    try:
        job_id = queue_job(context)
        task = worker.app.tasks[TASK_NAME]
        assert (task.acks_late, task.reject_on_worker_lost) == (True, True)
        assert worker.run_task(job_id) == "stored"
        assert worker.run_task(job_id) == "skipped"
        argv = worker.argv(name="w@h")
    finally:
        worker.close()
        context.close()
    assert {"--pool=threads", "--concurrency=3", f"--queues={QUEUE}", "--hostname=w@h"} <= set(argv)


def test_the_celery_app_delivers_at_least_once(tmp_path: Path) -> None:
    conf = celery_app(settings(tmp_path, visibility_timeout=123.0)).conf
    assert (conf.task_acks_late, conf.task_reject_on_worker_lost, conf.worker_prefetch_multiplier) == (True, True, 1)
    assert conf.broker_transport_options == {"visibility_timeout": 123.0}


def test_a_worker_needs_a_broker(tmp_path: Path) -> None:
    assert worker_settings_problem(settings(tmp_path)) is None
    problem = worker_settings_problem(settings(tmp_path, broker_url=""))
    assert problem is not None and "INVOICEAI_SERVER_BROKER_URL" in problem


@pytest.mark.allow_stderr  # the command line reports the configuration error on stderr
def test_invoiceai_worker_without_a_broker_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from invoiceai.cli import main

    monkeypatch.delenv("INVOICEAI_SERVER_BROKER_URL", raising=False)
    monkeypatch.setenv("INVOICEAI_SERVER_DATABASE_URL", f"sqlite:///{tmp_path / 'jobs.sqlite3'}")
    assert main(["worker", "--concurrency", "2"]) == 2
    assert "INVOICEAI_SERVER_BROKER_URL" in capsys.readouterr().err
