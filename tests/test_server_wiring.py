"""The service's parts wired into the app: webhooks, the real rate limiter, metrics, readiness, OpenAPI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from documents_factory import example_invoice, png_invoice
from invoiceai.extractor import Extractor
from invoiceai.server.audit import read_audit
from invoiceai.server.webhooks import ATTEMPT_HEADER, DELIVERY_HEADER, SIGNATURE_HEADER, verify
from invoiceai.testing import FakeBackend
from server_helpers import client, new_key, serving, settings_for
from webhook_receiver import Receiver

SECRET = "whsec_test-secret-0123456789"
PROBLEM = "application/problem+json"


def fake_extractor() -> Extractor:
    return Extractor(backend=FakeBackend(default=example_invoice()), cache=None)


def upload(label: str = "1") -> dict[str, Any]:
    return {"file": (f"scan-{label}.png", png_invoice(label), "image/png")}


@pytest.fixture
def private_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    # The receiver is on 127.0.0.1, which the SSRF guard refuses unless private URLs are allowed.
    monkeypatch.setenv("INVOICEAI_ALLOW_PRIVATE_URLS", "1")


@pytest.mark.usefixtures("private_urls")
def test_a_webhook_is_signed_retried_and_every_attempt_audited(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, auth=False, webhook_secret=SECRET, webhook_backoff_seconds=0.01)
    with Receiver(failures=2).running() as receiver, serving(settings, extractor=fake_extractor()) as (server, ctx):
        job = client(server).post("/v1/documents?wait=20", data={"callback_url": receiver.url}, files=upload())
        assert job.json()["status"] == "succeeded"
        assert receiver.delivered.wait(30)
    assert len(receiver.calls) == 3
    for number, (headers, body) in enumerate(receiver.calls, start=1):
        assert verify(body, headers[SIGNATURE_HEADER.lower()], SECRET)
        assert headers[ATTEMPT_HEADER.lower()] == str(number)
        assert headers[DELIVERY_HEADER.lower()] == f"{job.json()['id']}:succeeded"
        assert body == b'{"job_id":"%s","status":"succeeded"}' % job.json()["id"].encode()
    attempts = [row for row in read_audit(ctx.engine, job_id=job.json()["id"]) if row.action == "webhook"]
    assert [row.outcome for row in attempts] == ["failed", "failed", "delivered"]
    details = [row.detail or "" for row in attempts]
    assert [detail.split(" in ")[0] for detail in details] == ["attempt 1: HTTP 500", "attempt 2: HTTP 500",
                                                               "attempt 3: HTTP 204"]  # fmt: skip
    assert details[0].endswith(" s; HTTP 500") and details[2].endswith(" s")
    assert all("token" not in (row.detail or "") for row in attempts)


@pytest.mark.usefixtures("private_urls")
def test_canceling_a_job_sends_its_webhook(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, auth=False, workers=0, webhook_secret=SECRET)
    with Receiver(failures=0).running() as receiver, serving(settings, extractor=fake_extractor()) as (server, _):
        api = client(server)
        job_id = api.post("/v1/documents", data={"callback_url": receiver.url}, files=upload()).json()["id"]
        assert api.delete(f"/v1/jobs/{job_id}").json()["status"] == "canceled"
        assert receiver.delivered.wait(30)
        api.delete(f"/v1/jobs/{job_id}")  # already canceled: no second webhook
    assert [body for _, body in receiver.calls] == [b'{"job_id":"%s","status":"canceled"}' % job_id.encode()]


def test_callback_urls_are_refused_at_submit(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, auth=False, workers=0, webhook_secret=SECRET)
    with serving(settings, extractor=fake_extractor()) as (server, context):
        api = client(server)
        by_name = api.post("/v1/documents", data={"callback_url": "http://localhost:9/hook"}, files=upload())
        literal = api.post(
            "/v1/documents", json={"url": "https://example.com/a.pdf", "callback_url": "http://10.0.0.7/"}
        )
        batch = api.post("/v1/batches", data={"callback_url": "http://localhost/x"}, files=[("file", upload()["file"])])
        jobs = [row for row in read_audit(context.engine) if row.action == "create"]
    assert (by_name.status_code, by_name.headers["content-type"]) == (422, PROBLEM)
    assert by_name.json()["type"] == "urn:invoiceai:problem:unsafe-url"
    assert literal.status_code == 422
    assert batch.json()["type"] == "urn:invoiceai:problem:unsafe-url"
    assert jobs == []  # nothing was queued


def test_a_callback_url_without_a_webhook_secret_is_refused(tmp_path: Path) -> None:
    with serving(settings_for(tmp_path, auth=False, workers=0), extractor=fake_extractor()) as (server, _):
        hook = {"callback_url": "https://example.com/hook"}
        refused = client(server).post("/v1/documents", data=hook, files=upload())
    assert refused.status_code == 422
    assert "webhook secret" in refused.json()["detail"]


def test_the_real_rate_limiter_answers_429_with_retry_after(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, workers=0, rate_per_s=0.01, burst=2)
    with serving(settings, extractor=fake_extractor()) as (server, context):
        mine, theirs = client(server, new_key(context, "a")[1]), client(server, new_key(context, "b")[1])
        answers = [mine.get("/v1/jobs/none").status_code for _ in range(3)]
        limited = mine.get("/v1/jobs/none")
        other = theirs.get("/v1/jobs/none")
    assert answers == [404, 404, 429]
    assert limited.status_code == 429 and limited.headers["content-type"] == PROBLEM
    assert 90 <= int(limited.headers["retry-after"]) <= 100  # one token at 0.01/s
    assert other.status_code == 404  # the limit is per key


def test_metrics_report_jobs_requests_tokens_and_errors(tmp_path: Path) -> None:
    from invoiceai.errors import RefusalError

    replies = iter([example_invoice(), RefusalError("no")])
    extractor = Extractor(backend=FakeBackend(default=lambda call: next(replies)), cache=None)
    with serving(settings_for(tmp_path, auth=False, workers=1), extractor=extractor) as (server, _):
        api = client(server)
        assert api.post("/v1/documents?wait=20", files=upload("1")).json()["status"] == "succeeded"
        assert api.post("/v1/documents?wait=20", files=upload("2")).json()["status"] == "failed"
        api.post("/v1/documents", files=upload("3"), params={"wait": "x"})  # a 422
        api.get("/v1/jobs/nothing-here")
        page = api.get("/metrics")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
    text = page.text
    assert 'invoiceai_jobs{state="succeeded"} 1.0' in text
    assert 'invoiceai_jobs{state="failed"} 1.0' in text
    assert "invoiceai_queue_depth 0.0" in text
    assert "invoiceai_documents_total 2.0" in text
    assert 'invoiceai_errors_total{kind="RefusalError"} 1.0' in text
    assert 'invoiceai_errors_total{kind="invalid-request"} 1.0' in text
    assert 'invoiceai_http_requests_total{method="GET",route="/v1/jobs/{job_id}",status="404"} 1.0' in text
    assert 'invoiceai_http_request_duration_seconds_count{method="POST",route="/v1/documents"} 3.0' in text
    assert 'invoiceai_tokens_total{direction="input"}' in text


def test_readiness_checks_the_result_cache(tmp_path: Path) -> None:
    extractor = Extractor(backend=FakeBackend(default=example_invoice()), cache="memory")
    with serving(settings_for(tmp_path, workers=0, cache="memory"), extractor=extractor) as (server, _):
        ready = client(server).get("/readyz")
    assert ready.json()["checks"] == {"database": "ok", "backend": "ok", "cache": "ok"}


def test_every_error_response_is_documented_as_problem_json(tmp_path: Path) -> None:
    with serving(settings_for(tmp_path, workers=0), extractor=fake_extractor()) as (server, _):
        spec = client(server).get("/openapi.json").json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            assert {"405", "500"} <= statuses, (method, path)
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert list(response["content"]) == [PROBLEM], (method, path, status)
