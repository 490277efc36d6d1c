"""Service batches sent through the Message Batches API, against the fake Claude API on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from claude_fakes import ANSWER, settings
from documents_factory import example_invoice, png_invoice
from invoiceai.backends import ClaudeBackend
from invoiceai.documents import Document
from invoiceai.extractor import Extractor
from invoiceai.server.audit import read_audit
from invoiceai.server.message_batches import drive
from invoiceai.server.message_batches_store import DatabaseBatchStore, message_batches
from invoiceai.testing import FakeBackend, FakeClaudeAPI, ItemFault
from server_helpers import client, new_key, serving, settings_for

USAGE = {"input_tokens": 1000, "output_tokens": 200}
LIVE_COST = Decimal("0.004")  # claude-sonnet-5: 1000 x $2/M + 200 x $10/M
BATCHES_PATH = "/v1/messages/batches"


def claude_extractor(base_url: str) -> Extractor:
    backend = ClaudeBackend(base_url=base_url, api_key="sk-ant-test", settings=settings(max_attempts=3))
    return Extractor(backend=backend, cache=None)


def creates(api: FakeClaudeAPI) -> int:
    """How many Message Batches were created at the fake."""
    return sum(1 for request in api.requests if request.method == "POST" and request.path.endswith(BATCHES_PATH))


def uploads(count: int) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("file", (f"scan-{number}.png", png_invoice(str(number)), "image/png")) for number in range(count)]


def due_now(context: Any) -> None:
    """Makes every Message Batch due for a look (the test, not the clock, decides when the driver looks)."""
    from invoiceai.server.clock import utcnow

    with context.engine.begin() as connection:
        connection.execute(message_batches.update().values(next_look_at=utcnow()))


def drive_now(context: Any) -> int:
    due_now(context)
    return drive(context)


def comparable(result: dict[str, Any]) -> dict[str, Any]:
    result = dict(result)
    result.pop("timings", None)
    result["usage"] = {key: value for key, value in result["usage"].items() if key != "cost_usd"}
    return result


@contextmanager
def fake_claude() -> Iterator[tuple[FakeClaudeAPI, str]]:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    with api.serve() as server:
        yield api, server.base_url


def submit(api: Any, count: int) -> dict[str, Any]:
    created = api.post("/v1/batches", files=uploads(count), data={"message_batches": "true"})
    assert created.status_code == 202, created.text
    body: dict[str, Any] = created.json()
    return body


def live_results(tmp_path: Path, count: int) -> list[dict[str, Any]]:
    """The same documents through the service's live path (workers and POST /v1/batches without the flag)."""
    with fake_claude() as (api, base_url):
        live = tmp_path / "live"
        live.mkdir()
        with serving(settings_for(live), extractor=claude_extractor(base_url)) as (server, context):
            http = client(server, new_key(context)[1])
            batch = http.post("/v1/batches", files=uploads(count)).json()
            lines = http.get(f"/v1/batches/{batch['id']}/results").text.splitlines()
        assert creates(api) == 0 and len(api.message_requests) == count
    return [json.loads(line) for line in lines]


def test_a_message_batch_runs_outside_the_workers_and_matches_the_live_path_at_half_price(
    tmp_path: Path, database_url: str
) -> None:
    with fake_claude() as (api, base_url):
        api.batches.auto_end = False
        service = settings_for(tmp_path, database_url=database_url, workers=0)
        with serving(service, extractor=claude_extractor(base_url)) as (server, context):
            http = client(server, new_key(context)[1])
            batch = submit(http, 3)
            assert batch["message_batches"] is True
            assert {job["status"] for job in batch["jobs"]} == {"queued"}
            assert {job["stage"] for job in batch["jobs"]} == {"waiting to be sent in a Message Batch"}
            assert drive_now(context) == 1  # submitted, and looked at once: still in progress
            job = http.get(f"/v1/jobs/{batch['jobs'][0]['id']}").json()
            assert (job["status"], job["message_batch"], job["attempts"]) == ("running", True, 1)
            assert job["stage"] == "in a Message Batch: results within 24 hours"
            assert http.get(f"/v1/batches/{batch['id']}").json()["counts"]["running"] == 3
            api.batches.end()
            drive_now(context)
            jobs = [http.get(f"/v1/jobs/{job['id']}").json() for job in batch["jobs"]]
            lines = [json.loads(line) for line in http.get(f"/v1/batches/{batch['id']}/results").text.splitlines()]
            results = [http.get(f"/v1/jobs/{job['id']}/result").json() for job in batch["jobs"]]
            assert drive_now(context) == 0  # the batch is over
            assert DatabaseBatchStore(context.engine).jobs() == []  # the library's records are gone with it
        assert api.message_requests == []  # nothing ran live
        assert creates(api) == 1
    assert [job["status"] for job in jobs] == ["succeeded"] * 3
    assert {job["stage"] for job in jobs} == {None}
    assert {Decimal(job["usage"]["cost_usd"]) for job in jobs} == {LIVE_COST / 2}
    assert lines == results
    expected = live_results(tmp_path, 3)
    assert [comparable(line) for line in lines] == [comparable(line) for line in expected]
    assert {Decimal(line["usage"]["cost_usd"]) for line in expected} == {LIVE_COST}
    actions = [(row.action, row.outcome) for row in read_audit(context.engine, job_id=jobs[0]["id"])]
    assert actions == [
        ("state:queued", "queued"),
        ("create", "ok"),
        ("state:running", "running"),
        ("state:succeeded", "succeeded"),
        ("read_result", "ok"),
    ]


def test_a_restarted_service_resumes_the_message_batch_without_sending_it_again(
    tmp_path: Path, database_url: str
) -> None:
    service = settings_for(tmp_path, database_url=database_url, workers=0)
    with fake_claude() as (api, base_url):
        api.batches.auto_end = False
        with serving(service, extractor=claude_extractor(base_url)) as (server, context):
            key = new_key(context)[1]
            batch = submit(client(server, key), 4)
            drive_now(context)
        assert creates(api) == 1
        api.batches.end()
        # A new process: a new context and app on the same database, a new extractor.
        with serving(service, extractor=claude_extractor(base_url)) as (server, context):
            assert drive_now(context) == 1
            http = client(server, key)
            statuses = [http.get(f"/v1/jobs/{job['id']}").json()["status"] for job in batch["jobs"]]
        assert creates(api) == 1  # resumed: no document was sent (or paid) twice
        assert len(api.batches.submitted) == 4
    assert statuses == ["succeeded"] * 4


def test_errored_and_expired_items_are_retried_as_the_library_does(tmp_path: Path) -> None:
    with fake_claude() as (api, base_url):
        api.batches.enqueue(None, ItemFault.errored("overloaded_error"), ItemFault.expired())
        with serving(settings_for(tmp_path, workers=0), extractor=claude_extractor(base_url)) as (server, context):
            http = client(server, new_key(context)[1])
            batch = submit(http, 3)
            drive_now(context)  # submits, finds two items to retry, sends them in a follow-up round
            drive_now(context)
            jobs = [http.get(f"/v1/jobs/{job['id']}").json() for job in batch["jobs"]]
        assert creates(api) == 2
    assert [job["status"] for job in jobs] == ["succeeded"] * 3
    assert [Decimal(job["usage"]["cost_usd"]) for job in jobs] == [LIVE_COST / 2] * 3  # a lost item costs nothing


def test_a_canceled_job_keeps_no_result_and_a_batch_canceled_whole_is_abandoned(tmp_path: Path) -> None:
    with fake_claude() as (api, base_url):
        api.batches.auto_end = False
        with serving(settings_for(tmp_path, workers=0), extractor=claude_extractor(base_url)) as (server, context):
            http = client(server, new_key(context)[1])
            partly, whole = submit(http, 2), submit(http, 2)
            assert drive_now(context) == 2
            assert http.delete(f"/v1/jobs/{partly['jobs'][0]['id']}").json()["status"] == "canceled"
            for job in whole["jobs"]:
                http.delete(f"/v1/jobs/{job['id']}")
            api.batches.end()
            drive_now(context)
            kept = [http.get(f"/v1/jobs/{job['id']}").json() for job in partly["jobs"]]
            canceled = http.get(f"/v1/jobs/{partly['jobs'][0]['id']}/result")
            with context.engine.begin() as connection:
                states = dict(connection.execute(message_batches.select().with_only_columns(
                    message_batches.c.batch_id, message_batches.c.state)).all())  # fmt: skip
            assert DatabaseBatchStore(context.engine).jobs() == []
    assert [job["status"] for job in kept] == ["canceled", "succeeded"]
    assert canceled.status_code == 409
    assert states == {partly["id"]: "done", whole["id"]: "canceled"}


def test_a_backend_without_message_batches_is_refused_with_a_problem(tmp_path: Path) -> None:
    extractor = Extractor(backend=FakeBackend(default=example_invoice()), cache=None)
    with serving(settings_for(tmp_path, workers=0), extractor=extractor) as (server, context):
        http = client(server, new_key(context)[1])
        refused = http.post("/v1/batches", files=uploads(2), data={"message_batches": "true"})
        urls = http.post("/v1/batches", json={"urls": ["https://example.com/a.pdf"], "message_batches": True})
        live = http.post("/v1/batches", files=uploads(1), data={"message_batches": "false"})
        with context.engine.begin() as connection:
            rows = connection.execute(message_batches.select()).all()
    for answer in (refused, urls):
        assert answer.status_code == 422
        assert answer.headers["content-type"] == "application/problem+json"
        body = answer.json()
        assert body["type"] == "urn:invoiceai:problem:invalid-request"
        assert "FakeBackend" in body["detail"] and "no Message Batches side" in body["detail"]
        assert "message_batches out" in body["detail"]
    assert live.status_code == 202 and live.json()["message_batches"] is False
    assert rows == []


def test_the_embedded_workers_drive_message_batches_and_never_run_them_live(tmp_path: Path) -> None:
    service = settings_for(tmp_path, workers=2, message_batches_poll_seconds=0.05)
    with fake_claude() as (api, base_url):
        with serving(service, extractor=claude_extractor(base_url)) as (server, context):
            http = client(server, new_key(context)[1])
            batch = submit(http, 3)
            lines = http.get(f"/v1/batches/{batch['id']}/results").text.splitlines()  # streams until the batch ends
        assert api.message_requests == []
        assert creates(api) == 1
    assert [json.loads(line)["data"]["invoice_number"] for line in lines] == [ANSWER["invoice_number"]] * 3


@pytest.mark.parametrize("value", ["yes", "2"])
def test_a_message_batches_flag_that_is_not_a_boolean_is_refused(tmp_path: Path, value: str) -> None:
    with serving(settings_for(tmp_path, workers=0), extractor=claude_extractor("http://127.0.0.1:9")) as (server, ctx):
        answer = client(server, new_key(ctx)[1]).post("/v1/batches", files=uploads(1), data={"message_batches": value})
    assert answer.status_code == 422


@pytest.mark.allow_stderr  # the driver warns that the first round was not sent, on purpose
def test_a_create_whose_answer_was_lost_is_adopted_not_sent_again(tmp_path: Path, caplog: Any) -> None:
    lost = []

    def drop_the_first_answer(request: Any) -> None:
        if request.method == "POST" and request.path.endswith(BATCHES_PATH) and not lost:
            lost.append(request)
            raise ConnectionResetError("the create's answer is lost")  # the batch was made all the same

    with fake_claude() as (api, base_url):
        api.on_request = drop_the_first_answer
        with serving(settings_for(tmp_path, workers=0), extractor=claude_extractor(base_url)) as (server, context):
            http = client(server, new_key(context)[1])
            batch = submit(http, 2)
            drive_now(context)
            drive_now(context)
            jobs = [http.get(f"/v1/jobs/{job['id']}").json() for job in batch["jobs"]]
        assert lost and creates(api) == 1
    assert [job["status"] for job in jobs] == ["succeeded"] * 2
    assert "was not sent" in caplog.text and "it is resumed" in caplog.text


def test_a_service_batch_is_bound_to_one_library_job(tmp_path: Path) -> None:
    from invoiceai.errors import ConfigurationError
    from invoiceai.server.db import migrate, open_engine
    from invoiceai.server.message_batches_store import add_message_batch

    engine = open_engine(f"sqlite:///{tmp_path / 'jobs.sqlite3'}")
    migrate(engine)
    with engine.begin() as connection:
        add_message_batch(connection, "b-1")
    first = DatabaseBatchStore(engine, batch_id="b-1", members=["j-1", "j-2"])
    first.put("iaib_first", {("meta", "job"): "{}", ("doc", "0"): "{}"})
    first.put("iaib_first", {("meta", "job"): "{}"})  # the same job again: fine
    second = DatabaseBatchStore(engine, batch_id="b-1", members=["j-1", "j-2"])
    with pytest.raises(ConfigurationError, match="not sent twice"):
        second.put("iaib_second", {("meta", "job"): "{}", ("doc", "0"): "{}"})
    assert second.jobs() == ["iaib_first"]  # the refused group wrote nothing
    assert second.read("iaib_second", "doc") == {}
    with engine.begin() as connection:
        row = connection.execute(message_batches.select()).mappings().one()
    assert (row["job_id"], json.loads(row["members"])) == ("iaib_first", ["j-1", "j-2"])
    assert first.lease("iaib_first", "a", 60) and not second.lease("iaib_first", "b", 60)
    assert second.lease("iaib_first", "b", 60, stale=lambda holder: holder == "a")
    first.release("iaib_first", "a")  # not its lease any more: nothing changes
    assert not first.lease("iaib_first", "a", 60)
    second.discard("iaib_first", [("doc", "0"), ("doc", "9")])
    assert second.read("iaib_first", "doc") == {}
    second.delete("iaib_first")
    assert second.jobs() == [] and first.lease("iaib_first", "a", 60)
    engine.dispose()


def test_a_fleet_worker_drives_message_batches_next_to_its_sweeper(tmp_path: Path) -> None:
    import threading

    from invoiceai.server.context import ServiceContext
    from invoiceai.server.fleet import FleetWorker
    from invoiceai.server.store import Submission, create_batch, job_rows_of_batch, save_upload

    # The broker is never reached: the sweeper finds no stale job, so it sends no task.
    service = settings_for(tmp_path, workers=0, broker_url="redis://127.0.0.1:9/0", message_batches_poll_seconds=0.05)
    with fake_claude() as (api, base_url):
        context = ServiceContext(service, extractor=claude_extractor(base_url))
        ended, done = threading.Event(), []
        counted = context.seams.job_state

        def job_state(state: str) -> None:
            counted(state)
            done.extend([state] if state in {"succeeded", "failed"} else [])
            if len(done) == 2:
                ended.set()

        context.seams.job_state = job_state  # type: ignore[method-assign]
        try:
            uploads_ = [
                save_upload(context.engine, Document.from_bytes(png_invoice(str(n)), name=f"{n}.png")) for n in range(2)
            ]
            submissions = [Submission(source_name=f"{n}.png", upload=upload) for n, upload in enumerate(uploads_)]
            batch, _ = create_batch(context.engine, "anonymous", submissions, message_batches=True)
            worker = FleetWorker(context, concurrency=1, sweep_seconds=60)
            with worker.sweeping():
                assert ended.wait(60), done
            worker.close()
            statuses = [row["status"] for row in job_rows_of_batch(context.engine, batch["id"], columns=("status",))]
        finally:
            context.close()
        assert api.message_requests == [] and creates(api) == 1
    assert statuses == ["succeeded", "succeeded"]


@pytest.mark.allow_stderr  # the driver warns that the batch could not be sent, on purpose
def test_a_batch_the_backend_cannot_send_fails_its_jobs_as_live_would(tmp_path: Path, caplog: Any) -> None:
    extractor = Extractor(backend=ClaudeBackend(base_url="http://127.0.0.1:9", settings=settings()), cache=None)
    with serving(settings_for(tmp_path, workers=0), extractor=extractor) as (server, context):
        http = client(server, new_key(context)[1])
        batch = submit(http, 2)
        drive_now(context)
        jobs = [http.get(f"/v1/jobs/{job['id']}").json() for job in batch["jobs"]]
        assert drive_now(context) == 1  # nothing left to send: the batch is closed
        assert drive_now(context) == 0
        with context.engine.begin() as connection:
            state = connection.execute(message_batches.select()).mappings().one()["state"]
    assert [(job["status"], job["error"]["type"]) for job in jobs] == [("failed", "ConfigurationError")] * 2
    assert all("API key" in job["error"]["message"] for job in jobs)
    assert state == "done"
    assert "could not be handled" in caplog.text


def test_each_job_of_a_message_batch_queues_its_webhook_once(tmp_path: Path) -> None:
    from sqlalchemy import select

    from invoiceai.server.context import ServiceContext
    from invoiceai.server.outbox import webhook_deliveries
    from invoiceai.server.store import Submission, create_batch, job_rows_of_batch, save_upload

    service = settings_for(tmp_path, workers=0, webhook_secret="s3cret")
    with fake_claude() as (_, base_url):
        context = ServiceContext(service, extractor=claude_extractor(base_url))
        woken: list[None] = []
        context.seams.on_webhook = lambda: woken.append(None)
        try:
            documents = [Document.from_bytes(png_invoice(str(n)), name=f"{n}.png") for n in range(2)]
            submissions = [
                Submission(source_name=document.name, upload=save_upload(context.engine, document),
                           callback_url="https://example.com/hook")
                for document in documents
            ]  # fmt: skip
            batch, _ = create_batch(context.engine, "anonymous", submissions, message_batches=True)
            drive_now(context)
            drive_now(context)
            rows = job_rows_of_batch(context.engine, batch["id"], columns=("id", "status", "callback_url"))
            with context.engine.connect() as connection:
                columns = (webhook_deliveries.c.job_id, webhook_deliveries.c.status, webhook_deliveries.c.url)
                sent = [tuple(row) for row in connection.execute(select(*columns))]
        finally:
            context.close()
    # One outbox row per job (the deliverer sends it), written when the job's result was stored.
    assert sorted(sent) == sorted((row["id"], "succeeded", "https://example.com/hook") for row in rows)
    assert woken  # the process's deliverer was told
    assert {(row["status"], row["callback_url"]) for row in rows} == {("succeeded", None)}  # dropped when it ended
