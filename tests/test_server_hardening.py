"""The service under hostile or unlucky input: no secret in its log, no 500 for what the store cannot hold.

Served by uvicorn on 127.0.0.1 with a fake backend, on SQLite and on a throwaway PostgreSQL
(which refuses NUL characters and over-long strings where SQLite takes them).
"""

from __future__ import annotations

import logging
import socket
import threading
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import text

from documents_factory import example_invoice, png_invoice
from invoiceai.extractor import Extractor
from invoiceai.server import store
from invoiceai.server.app import create_app
from invoiceai.server.context import ServiceContext
from invoiceai.testing import FakeBackend
from server_helpers import LiveServer, client, new_key, serving, settings_for

PROBLEM = "application/problem+json"
# A literal public address: nothing here is looked up or fetched (the jobs never run).
HOST = "93.184.215.14"
SECRETS = ("urlpass-0123", "sig-0123456789", "hunter2-secret", "cbpass-0123", "tok-0123456789")
SECRET_REQUEST = {
    "url": f"https://urluser:urlpass-0123@{HOST}/a.pdf?X-Amz-Signature=sig-0123456789",
    "password": "hunter2-secret",
    "callback_url": f"https://cbuser:cbpass-0123@{HOST}/hook?token=tok-0123456789",
}


def fake_extractor() -> Extractor:
    return Extractor(backend=FakeBackend(default=example_invoice()), cache=None)


def assert_problem(response: Any, status: int, slug: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == f"urn:invoiceai:problem:{slug}"


class LoggingServer(LiveServer):
    """The app under uvicorn with its own logging on (``LiveServer`` silences it), as ``invoiceai serve`` runs."""

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.server = uvicorn.Server(uvicorn.Config(app, log_config=None, log_level="info", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)


def _refuse_job_inserts(context: ServiceContext) -> None:
    """A trigger that fails every INSERT into jobs: a database error with the job's values as parameters."""
    with context.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text(
                    "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused by test'; END $$ "
                    "LANGUAGE plpgsql"
                )
            )
            connection.execute(
                text("CREATE TRIGGER refuse BEFORE INSERT ON jobs FOR EACH ROW EXECUTE FUNCTION refuse()")
            )
        else:
            connection.execute(
                text("CREATE TRIGGER refuse BEFORE INSERT ON jobs BEGIN SELECT RAISE(ABORT, 'refused by test'); END")
            )


@pytest.mark.allow_stderr  # the service logs the error, on purpose
def test_a_database_error_logs_one_masked_line_and_no_secret(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    context = ServiceContext(
        settings_for(tmp_path, database_url=database_url, workers=0, webhook_secret="whsec-test"),
        extractor=fake_extractor(),
    )
    try:
        _refuse_job_inserts(context)
        with LoggingServer(create_app(context=context)) as server:
            failed = client(server, new_key(context)[1]).post("/v1/documents", json=SECRET_REQUEST)
    finally:
        context.close()
    assert_problem(failed, 500, "internal-error")
    logged = caplog.text
    for secret in SECRETS:
        assert secret not in logged
        assert secret not in failed.text
    assert "Traceback" not in logged
    assert "Exception in ASGI application" not in logged
    lines = [r.getMessage() for r in caplog.records if r.name == "invoiceai.server" and "failed:" in r.getMessage()]
    assert len(lines) == 1, lines
    assert "\n" not in lines[0]
    assert lines[0].startswith("POST /v1/documents failed: ")
    assert "refused by test" in lines[0] and "store.py" in lines[0]


def _multipart(filename: bytes, data: bytes) -> bytes:
    return (
        b'--zz\r\nContent-Disposition: form-data; name="file"; filename="' + filename + b'"\r\n'
        b"Content-Type: image/png\r\n\r\n" + data + b"\r\n--zz--\r\n"
    )


def test_strings_the_store_cannot_hold_are_refused_up_front(database_url: str, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, database_url=database_url, workers=0, auth=False)
    document = {"file": ("a.png", png_invoice("1"), "image/png")}
    url = f"https://{HOST}/a.pdf"
    with serving(settings, extractor=fake_extractor()) as (server, _):
        api = client(server)
        refused = [
            api.post("/v1/documents", files=document, data={"pages": "1" * 1000}),
            api.post("/v1/documents", json={"url": url, "pages": "1\u0000"}),
            api.post("/v1/documents", json={"url": url, "pages": "abc"}),
            api.post("/v1/documents", json={"url": url, "pages": "0-99999999999"}),
            api.post("/v1/documents", json={"url": url + "\u0000"}),
            api.post("/v1/documents", json={"url": url, "password": "pass\u0000word"}),
            api.post("/v1/documents", json={"url": url, "callback_url": f"https://{HOST}/hook\n"}),
            api.post("/v1/documents", json={"url": url, "schema": "invoice\u0000"}),
            api.post(
                "/v1/documents",
                content=b'{"url": "' + url.encode() + b'", "password": "\\ud800"}',
                headers={"content-type": "application/json"},
            ),
            api.post(
                "/v1/documents",
                content=_multipart(b"a\x00.png", png_invoice("2")),
                headers={"content-type": "multipart/form-data; boundary=zz"},
            ),
            api.post("/v1/batches", json={"urls": [url], "pages": "1\u0000"}),
            api.post(
                "/v1/batches",
                content=_multipart(b"b\x01.png", png_invoice("3")),
                headers={"content-type": "multipart/form-data; boundary=zz"},
            ),
        ]
        missing = [
            api.get("/v1/jobs/%00"), api.get("/v1/jobs/not-a-uuid/result"), api.delete("/v1/jobs/%00"),
            api.get("/v1/batches/%00"), api.get("/v1/batches/x/results"), api.get(f"/v1/jobs/{uuid.uuid4()}"),
        ]  # fmt: skip
        accepted = api.post("/v1/documents", files=document, data={"pages": "1-2, 5-"})
    for response in refused:
        assert_problem(response, 422, "invalid-request")
    for response in missing:
        assert_problem(response, 404, "not-found")
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["pages"] == "1-2, 5-"


@pytest.mark.parametrize("value", ["", "x" * 101, "tab\tkey"])
def test_idempotency_keys_are_checked_alike_for_documents_and_batches(tmp_path: Path, value: str) -> None:
    with serving(settings_for(tmp_path, workers=0, auth=False), extractor=fake_extractor()) as (server, _):
        api = client(server)
        document = api.post("/v1/documents", json={"url": f"https://{HOST}/a.pdf"}, headers={"Idempotency-Key": value})
        batch = api.post("/v1/batches", json={"urls": [f"https://{HOST}/a.pdf"]}, headers={"Idempotency-Key": value})
    assert_problem(document, 422, "invalid-request")
    assert_problem(batch, 422, "invalid-request")


def test_a_refusal_before_the_body_is_read_closes_the_connection(tmp_path: Path) -> None:
    with (
        serving(settings_for(tmp_path, workers=0), extractor=fake_extractor()) as (server, _),
        socket.create_connection(("127.0.0.1", server.port), timeout=30) as raw,
    ):
        raw.sendall(
            b"POST /v1/documents HTTP/1.1\r\nHost: 127.0.0.1\r\n"  # no API key
            b"Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: 10000000\r\n\r\n--xyz\r\n"
        )
        received = b""
        while chunk := raw.recv(65536):  # ends when the server hangs up (it would wait for 10 MB otherwise)
            received += chunk
    head = received.split(b"\r\n\r\n", 1)[0].lower()
    assert head.startswith(b"http/1.1 401 ")
    assert b"connection: close" in head


def test_an_early_answer_to_a_small_body_reads_it_away_and_keeps_the_connection(tmp_path: Path) -> None:
    # Closing while the client still sends its body makes the kernel reset the connection, and the
    # client loses the answer: a small body is read away instead, and the connection stays usable.
    body = b"--xyz\r\n" + b"x" * 50_000
    request = (
        b"POST /v1/documents?wait=-1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: %d\r\n\r\n" % len(body)
    ) + body
    with (
        serving(settings_for(tmp_path, workers=0, auth=False), extractor=fake_extractor()) as (server, _),
        socket.create_connection(("127.0.0.1", server.port), timeout=30) as raw,
    ):
        raw.sendall(request)
        first = _read_response(raw)
        raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # the same connection
        second = _read_response(raw)
    assert first.lower().startswith(b"http/1.1 422 ") and b"connection: close" not in first.lower()
    assert second.startswith(b"HTTP/1.1 200 ")


def _read_response(raw: socket.socket) -> bytes:
    """One response's head (and body, by Content-Length) from a raw socket."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += raw.recv(65536) or b"!"
        assert not received.endswith(b"!"), "the server closed the connection"
    head, rest = received.split(b"\r\n\r\n", 1)
    length = next(
        (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
        0,
    )
    while len(rest) < length:
        rest += raw.recv(65536)
    return head


def _batch_body(count: int, size: int) -> Iterator[bytes]:
    for number in range(count):  # one part at a time: the client holds no more than that either
        yield (
            (
                b'--zz\r\nContent-Disposition: form-data; name="file"; filename="doc-%d.png"\r\n'
                b"Content-Type: image/png\r\n\r\n" % number
            )
            + png_invoice(str(number))
            + bytes([number]) * size
            + b"\r\n"
        )
    yield b"--zz--\r\n"


def test_a_batch_is_stored_part_by_part_not_held_in_memory(tmp_path: Path) -> None:
    count, size = 16, 1_500_000
    with serving(settings_for(tmp_path, workers=0, auth=False), extractor=fake_extractor()) as (server, context):
        tracemalloc.start()
        try:
            created = client(server).post(
                "/v1/batches", content=_batch_body(count, size),
                headers={"content-type": "multipart/form-data; boundary=zz"},
            )  # fmt: skip
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert created.status_code == 202, created.text
        jobs = created.json()["jobs"]
        stored = [store.read_upload(context.engine, job["document_sha256"]) for job in jobs]
    assert [job["source"] for job in jobs] == [f"doc-{n}.png" for n in range(count)]
    assert all(upload is not None and len(upload[0]) > size for upload in stored)
    assert peak < count * size / 2, f"{peak / 1e6:.1f} MB traced for a {count * size / 1e6:.0f} MB batch"
