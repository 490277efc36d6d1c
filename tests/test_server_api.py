"""The service's HTTP API, served by uvicorn on 127.0.0.1 with a fake backend."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from documents_factory import example_invoice, png_invoice
from invoiceai.einvoice import read_einvoice
from invoiceai.extractor import Extractor
from invoiceai.server.audit import read_audit
from invoiceai.testing import FakeBackend
from server_helpers import client, new_key, serving, settings_for

PROBLEM = "application/problem+json"


def fake_extractor(reply: Any = None) -> Extractor:
    return Extractor(backend=FakeBackend(default=reply or example_invoice()), cache=None)


def upload(name: str = "scan.png", label: str = "1") -> dict[str, Any]:
    return {"file": (name, png_invoice(label), "image/png")}


def assert_problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:invoiceai:problem:{slug}"
    assert body["status"] == status
    assert "Traceback" not in response.text
    return body


def test_a_document_is_queued_run_and_its_result_read(tmp_path: Path) -> None:
    with serving(settings_for(tmp_path), extractor=fake_extractor()) as (server, context):
        key_id, key = new_key(context)
        api = client(server, key)
        created = api.post("/v1/documents", files=upload())
        assert created.status_code in (200, 202)
        job_id = created.json()["id"]
        done = api.post("/v1/documents?wait=20", files=upload())  # the same document: the same job
        assert done.json()["id"] == job_id
        assert (done.status_code, done.json()["status"]) == (200, "succeeded")
        assert done.json()["result"]["data"]["invoice_number"] == example_invoice().invoice_number
        job = api.get(f"/v1/jobs/{job_id}").json()
        assert (job["status"], job["attempts"], job["progress"], job["origin"]) == ("succeeded", 1, 1.0, "model")
        assert "password" not in job and "idempotency_key" not in job
        result = api.get(f"/v1/jobs/{job_id}/result")
        assert result.headers["content-type"] == "application/json"
        assert result.json() == done.json()["result"]
        cii = api.get(f"/v1/jobs/{job_id}/result", params={"format": "cii"})
        assert read_einvoice(cii.content).invoice_number == example_invoice().invoice_number
        assert_problem(api.get(f"/v1/jobs/{job_id}/result", params={"format": "facturx"}), 409, "conflict")
    actions = [(row.action, row.outcome) for row in read_audit(context.engine, job_id=job_id)]
    assert actions[:2] == [("state:queued", "queued"), ("create", "ok")]
    assert ("create", "duplicate") in actions
    assert ("state:running", "running") in actions
    assert ("state:succeeded", "succeeded") in actions
    assert ("read_result", "ok") in actions
    assert {row.key_id for row in read_audit(context.engine, job_id=job_id)} == {key_id}


def test_idempotency_key_header_names_the_job(tmp_path: Path) -> None:
    with serving(settings_for(tmp_path, workers=0), extractor=fake_extractor()) as (server, context):
        api = client(server, new_key(context)[1])
        first = api.post("/v1/documents", files=upload(label="a"), headers={"Idempotency-Key": "order-17"})
        again = api.post("/v1/documents", files=upload(label="b"), headers={"Idempotency-Key": "order-17"})
        other = api.post("/v1/documents", files=upload(label="a"))
    assert first.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert other.json()["id"] != first.json()["id"]


def test_cancel_a_running_job_stores_no_result(tmp_path: Path) -> None:
    started, release = threading.Event(), threading.Event()

    def slow(call: Any) -> Any:
        started.set()
        release.wait(30)
        return example_invoice()

    with serving(settings_for(tmp_path, workers=1), extractor=fake_extractor(slow)) as (server, context):
        api = client(server, new_key(context)[1])
        job_id = api.post("/v1/documents", files=upload()).json()["id"]
        assert started.wait(30)
        canceled = api.delete(f"/v1/jobs/{job_id}")
        release.set()
        assert (canceled.status_code, canceled.json()["status"]) == (200, "canceled")
        body = assert_problem(api.get(f"/v1/jobs/{job_id}/result"), 409, "conflict")
        assert "canceled" in body["detail"]
        queued = api.post("/v1/documents", files=upload(label="2"))  # runs once the canceled one is dropped
        finished = api.post("/v1/documents?wait=20", files=upload(label="2"))
        assert finished.json()["id"] == queued.json()["id"]
        assert api.get(f"/v1/jobs/{job_id}").json()["status"] == "canceled"
    actions = [row.action for row in read_audit(context.engine, job_id=job_id)]
    assert actions.count("cancel") == 1
    assert "state:succeeded" not in actions


def test_auth_no_key_wrong_key_and_another_keys_job(tmp_path: Path) -> None:
    with serving(settings_for(tmp_path, workers=0), extractor=fake_extractor()) as (server, context):
        mine, other = client(server, new_key(context, "a")[1]), client(server, new_key(context, "b")[1])
        job_id = mine.post("/v1/documents", files=upload()).json()["id"]
        no_key = client(server).get(f"/v1/jobs/{job_id}")
        wrong = client(server, "iai_not-a-key").get(f"/v1/jobs/{job_id}")
        theirs = other.get(f"/v1/jobs/{job_id}")
        cancel = other.delete(f"/v1/jobs/{job_id}")
        assert mine.get(f"/v1/jobs/{job_id}").status_code == 200
    assert_problem(no_key, 401, "unauthorized")
    assert no_key.headers["www-authenticate"] == "Bearer"
    assert_problem(wrong, 401, "unauthorized")
    assert_problem(theirs, 404, "not-found")
    assert_problem(cancel, 404, "not-found")


def test_daily_quota_answers_429_with_retry_after(tmp_path: Path) -> None:
    with serving(settings_for(tmp_path, workers=0), extractor=fake_extractor()) as (server, context):
        api = client(server, new_key(context, daily_quota=2)[1])
        assert api.post("/v1/documents", files=upload(label="1")).status_code == 202
        assert api.post("/v1/documents", files=upload(label="2")).status_code == 202
        assert api.post("/v1/documents", files=upload(label="1")).status_code == 202  # the same job: not counted
        refused = api.post("/v1/documents", files=upload(label="3"))
    assert_problem(refused, 429, "quota-exceeded")
    assert 0 < int(refused.headers["retry-after"]) <= 86400


class FakeLimiter:
    """Allows ``allowed`` checks per key, then asks for 2.5 s."""

    def __init__(self, allowed: int) -> None:
        self.allowed = allowed
        self.checks: list[tuple[str, int]] = []

    def check(self, key_id: str, cost: int = 1) -> float:
        self.checks.append((key_id, cost))
        return 0.0 if sum(1 for key, _ in self.checks if key == key_id) <= self.allowed else 2.5


def test_rate_limit_answers_429_with_retry_after(tmp_path: Path) -> None:
    limiter = FakeLimiter(allowed=1)
    with serving(settings_for(tmp_path, workers=0), extractor=fake_extractor(), limiter=limiter) as (server, context):
        key_id, key = new_key(context)
        api = client(server, key)
        assert api.get("/v1/jobs/none").status_code == 404
        limited = api.get("/v1/jobs/none")
    assert_problem(limited, 429, "rate-limited")
    assert limited.headers["retry-after"] == "3"
    assert limiter.checks == [(key_id, 1), (key_id, 1)]


def test_an_oversize_upload_is_refused_without_reading_the_body(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, workers=0, auth=False, max_upload_bytes=100_000)
    with (
        serving(settings, extractor=fake_extractor()) as (server, _),
        socket.create_connection(("127.0.0.1", server.port), timeout=30) as raw,
    ):
        raw.sendall(
            b"POST /v1/documents HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: 10000000000\r\n\r\n--xyz\r\n"
        )
        answer = raw.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert PROBLEM.encode() in answer


def test_a_chunked_upload_is_cut_off_at_the_limit(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, workers=0, auth=False, max_upload_bytes=100_000)

    def body() -> Any:
        yield b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'
        for _ in range(1000):  # 64 MB if it were all read
            yield b"\0" * 65536

    with serving(settings, extractor=fake_extractor()) as (server, _):
        refused = client(server).post(
            "/v1/documents", content=body(), headers={"content-type": "multipart/form-data; boundary=xyz"}
        )
    assert_problem(refused, 413, "payload-too-large")


def test_wrong_types_and_bad_requests_are_problems(tmp_path: Path) -> None:
    with serving(settings_for(tmp_path, workers=0, auth=False), extractor=fake_extractor()) as (server, _):
        api = client(server)
        plain = api.post("/v1/documents", content=b"hello", headers={"content-type": "text/plain"})
        not_a_document = api.post("/v1/documents", files={"file": ("a.txt", b"just some words", "text/plain")})
        no_file = api.post("/v1/documents", files={"pages": (None, "1")})
        bad_schema = api.post("/v1/documents", files={**upload(), "schema": (None, "order")})
        private = api.post("/v1/documents", json={"url": "http://127.0.0.1/x.pdf"})
        bad_callback = api.post("/v1/documents", json={"url": "https://example.com/a.pdf", "callback_url": "ftp://x"})
        bad_json = api.post("/v1/documents", content=b"{", headers={"content-type": "application/json"})
        unknown_path = api.get("/v2/nothing")
        wrong_method = api.put("/v1/documents")
        wrong_job_method = api.put("/v1/jobs/x")
        bad_query = api.post("/v1/documents?wait=-1", files=upload())
        bad_format = api.get("/v1/jobs/x/result?format=pdf")
    assert_problem(plain, 415, "unsupported-media-type")
    assert_problem(not_a_document, 415, "unsupported-format")
    for response in (no_file, bad_schema, private, bad_callback, bad_json):
        assert_problem(response, 422, "invalid-request")
    assert_problem(unknown_path, 404, "not-found")
    assert_problem(wrong_method, 405, "method-not-allowed")
    assert wrong_method.headers["allow"] == "POST"
    assert (
        assert_problem(wrong_job_method, 405, "method-not-allowed")
        and wrong_job_method.headers["allow"] == "DELETE, GET"
    )
    assert_problem(bad_query, 422, "invalid-request")
    assert_problem(bad_format, 422, "invalid-request")


def test_a_failed_job_reports_its_typed_error(tmp_path: Path) -> None:
    from invoiceai.errors import RefusalError

    with serving(settings_for(tmp_path, auth=False), extractor=fake_extractor(RefusalError("no"))) as (server, _):
        api = client(server)
        job = api.post("/v1/documents?wait=20", files=upload()).json()
        body = assert_problem(api.get(f"/v1/jobs/{job['id']}/result"), 409, "conflict")
    assert (job["status"], job["error"]["type"]) == ("failed", "RefusalError")
    assert job["result"]["error"]["type"] == "RefusalError"  # the failure as the CLI writes it
    assert "RefusalError" in body["detail"]


def test_a_batch_streams_its_results_in_input_order(tmp_path: Path) -> None:
    with serving(settings_for(tmp_path, auth=False, workers=3), extractor=fake_extractor()) as (server, _):
        api = client(server)
        files = [("file", (f"doc-{n}.png", png_invoice(str(n)), "image/png")) for n in range(5)]
        created = api.post("/v1/batches", files=files)
        assert created.status_code == 202
        batch = created.json()
        assert [job["batch_index"] for job in batch["jobs"]] == list(range(5))
        lines = api.get(f"/v1/batches/{batch['id']}/results")
        state = api.get(f"/v1/batches/{batch['id']}").json()
        refused = api.post("/v1/batches", json={"urls": ["https://example.com/a.pdf"], "message_batches": True})
    assert lines.headers["content-type"].startswith("application/x-ndjson")
    results = [json.loads(line) for line in lines.text.splitlines()]
    assert [result["source"] for result in results] == [f"doc-{n}.png" for n in range(5)]
    assert (state["finished"], state["counts"]["succeeded"], state["progress"]) == (True, 5, 1.0)
    assert_problem(refused, 422, "invalid-request")


def test_health_and_readiness(tmp_path: Path) -> None:
    with serving(settings_for(tmp_path, workers=0), extractor=fake_extractor()) as (server, _):
        api = client(server)
        assert api.get("/healthz").json() == {"status": "ok"}
        ready = api.get("/readyz")
        paths = api.get("/openapi.json").json()["paths"]
    assert (ready.status_code, ready.json()["checks"]) == (200, {"database": "ok", "backend": "ok"})
    assert {"/v1/documents", "/v1/jobs/{job_id}", "/v1/batches/{batch_id}/results"} <= set(paths)


@pytest.mark.parametrize("value", ["", "x" * 101])
def test_idempotency_keys_are_bounded(tmp_path: Path, value: str) -> None:
    with serving(settings_for(tmp_path, workers=0, auth=False), extractor=fake_extractor()) as (server, _):
        refused = client(server).post("/v1/documents", files=upload(), headers={"Idempotency-Key": value})
    assert_problem(refused, 422, "invalid-request")


def test_not_ready_without_an_api_key(tmp_path: Path) -> None:
    with serving(settings_for(tmp_path, workers=0)) as (server, _):  # the default Claude extractor, no key
        ready = client(server).get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == "ok"
    assert "ANTHROPIC_API_KEY" in ready.json()["checks"]["backend"]


class BrokenLimiter:
    def check(self, key_id: str, cost: int = 1) -> float:
        raise RuntimeError("limiter exploded at /srv/secret/path.py line 12")


@pytest.mark.allow_stderr  # the service logs the unexpected error (with its traceback) on purpose
def test_an_unexpected_error_is_a_500_problem_without_a_traceback(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, workers=0, auth=False)
    with serving(settings, extractor=fake_extractor(), limiter=BrokenLimiter()) as (server, _):
        failed = client(server).get("/v1/jobs/anything")
    body = assert_problem(failed, 500, "internal-error")
    assert "exploded" not in failed.text and "/srv/secret" not in failed.text
    assert "server log" in body["detail"]


@pytest.mark.allow_stderr
def test_a_defect_while_extracting_fails_the_job_without_a_traceback(tmp_path: Path) -> None:
    class Defect(Exception):
        pass

    def broken(call: Any) -> Any:
        raise Defect("internal state at 0xdeadbeef")

    extractor = Extractor(backend=FakeBackend(default=broken), cache=None)
    with serving(settings_for(tmp_path, auth=False), extractor=extractor) as (server, _):
        job = client(server).post("/v1/documents?wait=20", files=upload()).json()
    assert job["status"] == "failed"
    assert "0xdeadbeef" not in json.dumps(job)
    assert "Traceback" not in json.dumps(job)
