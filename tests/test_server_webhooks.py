"""Completion callbacks (invoiceai.server.webhooks): signatures, retries, the SSRF guard, a real receiver.

Nothing here touches the network: most deliveries go to an httpx2.MockTransport behind an
injected resolver, and the real one goes to a receiver this module starts on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx2
import pytest

from invoiceai.config import Settings
from invoiceai.errors import FetchError, UnsafeURLError
from invoiceai.server.webhooks import (
    ATTEMPT_HEADER,
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    WebhookAttempt,
    backoff_delay,
    callback_body,
    check_callback_url,
    deliver,
    send_attempt,
    sign,
    signature_header,
    verify,
)

SECRET = b"whsec_0123456789abcdef"
PUBLIC = "93.184.216.34"
HOOK = "https://hooks.example.com/invoiceai/done"
NOW = 1_750_000_000.0
STRICT = Settings(allow_private_urls=False)
OPT_IN = Settings(allow_private_urls=True)
DOCS = Path(__file__).resolve().parent.parent / "docs" / "webhooks.md"


# --- signatures ------------------------------------------------------------------------------------


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = b'{"job_id":"j1","status":"succeeded"}'
    expected = hmac.new(SECRET, b"1750000000." + body, hashlib.sha256).hexdigest()
    assert sign(body, SECRET, 1_750_000_000) == expected
    assert signature_header(body, SECRET, 1_750_000_000) == f"t=1750000000,v1={expected}"


def test_a_fresh_signature_verifies() -> None:
    body = callback_body("j1", "succeeded")
    header = signature_header(body, SECRET, int(NOW))
    assert verify(body, header, SECRET, now=NOW)
    assert verify(body, header, SECRET.decode(), now=NOW + 299)  # a str secret is the same secret
    assert not verify(body, header, SECRET, now=NOW + 60, tolerance_s=30)
    assert verify(body, header, SECRET, now=NOW - 60, tolerance_s=90)


@pytest.mark.parametrize(
    ("body", "secret", "now"),
    [
        (b'{"job_id":"j1","status":"failed"}', SECRET, NOW),  # tampered body
        (b'{"job_id":"j1","status":"succeeded"}', b"another secret", NOW),
        (b'{"job_id":"j1","status":"succeeded"}', SECRET, NOW + 301),  # too old: a replay
        (b'{"job_id":"j1","status":"succeeded"}', SECRET, NOW - 301),  # from the future
    ],
)
def test_a_wrong_body_secret_or_time_fails(body: bytes, secret: bytes, now: float) -> None:
    header = signature_header(b'{"job_id":"j1","status":"succeeded"}', SECRET, int(NOW))
    assert not verify(body, header, secret, now=now)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "garbage",
        "t=1750000000",
        "v1=" + "0" * 64,
        "t=abc,v1=" + "0" * 64,
        "t=\u0661\u0667\u0665\u0660,v1=" + "0" * 64,  # non-ASCII digits
        "t=1750000000,v1=",
        "t=1750000000,v1=caf\u00e9",
    ],
)
def test_a_malformed_header_fails_without_raising(header: str | None) -> None:
    assert not verify(b"{}", header, SECRET, now=NOW)


def test_any_of_several_signatures_may_match_for_secret_rotation() -> None:
    body = b"{}"
    old = sign(body, b"old secret", int(NOW))
    new = sign(body, SECRET, int(NOW))
    assert verify(body, f"t={int(NOW)}, v1={old}, v1={new}", SECRET, now=NOW)
    assert not verify(body, f"t={int(NOW)},v1={old}", SECRET, now=NOW)


def test_signatures_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[bytes] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append(a)
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    body = b"{}"
    assert verify(body, signature_header(body, SECRET, int(NOW)), SECRET, now=NOW)
    assert len(compared) == 1


# --- the body --------------------------------------------------------------------------------------


def test_the_body_names_the_job_and_its_status_only() -> None:
    assert json.loads(callback_body("j_42", "failed")) == {"job_id": "j_42", "status": "failed"}
    in_batch = {"batch_id": "b_7", "job_id": "j_42", "status": "canceled"}
    assert json.loads(callback_body("j_42", "canceled", batch_id="b_7")) == in_batch


@pytest.mark.parametrize("status", ["queued", "running", "done", ""])
def test_the_body_reports_final_statuses_only(status: str) -> None:
    with pytest.raises(ValueError, match="final status"):
        callback_body("j1", status)


# --- backoff ---------------------------------------------------------------------------------------


def test_backoff_doubles_with_jitter_between_half_and_the_whole_base() -> None:
    assert [backoff_delay(n, 1.0, rng=lambda: 0.0) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert [backoff_delay(n, 1.0, rng=lambda: 1.0) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]


def test_backoff_is_capped_and_retry_after_is_a_capped_floor() -> None:
    assert backoff_delay(20, 1.0, max_s=60, rng=lambda: 1.0) == 60
    assert backoff_delay(1, 1.0, retry_after=7, rng=lambda: 0.0) == 7
    assert backoff_delay(1, 1.0, max_s=30, retry_after=3600, rng=lambda: 0.0) == 30
    assert backoff_delay(3, 1.0, retry_after=1, rng=lambda: 1.0) == 4


# --- delivery through a mock transport ------------------------------------------------------------


class Script:
    """Answers calls from a script, one per call (the last one repeats), and records the calls."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls: list[Any] = []

    def next(self, call: object) -> Any:
        self.calls.append(call)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


class Receiver(Script):
    """A mock webhook receiver: ``calls`` are the requests it got."""

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        response: httpx2.Response = self.next(request)
        return response

    def transport(self) -> httpx2.MockTransport:
        return httpx2.MockTransport(self)


class Resolver(Script):
    """A name resolver answering lists of addresses: ``calls`` are the ``(host, port)`` looked up."""

    async def __call__(self, host: str, port: int) -> list[str]:
        addresses: list[str] = self.next((host, port))
        return addresses


class Delivery:
    """Runs deliver() with a fixed clock and instant sleeps, recording the attempts and the waits."""

    def __init__(self) -> None:
        self.attempts: list[WebhookAttempt] = []
        self.sleeps: list[float] = []

    async def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def run(
        self,
        transport: httpx2.AsyncBaseTransport | None,
        *,
        url: str = HOOK,
        body: bytes = b"{}",
        resolver: Callable[[str, int], Awaitable[list[str]]] | None = None,
        settings: Settings = STRICT,
        clock: Callable[[], float] = lambda: NOW,
        **kwargs: Any,
    ) -> bool:
        return asyncio.run(
            deliver(
                url,
                body,
                secret=SECRET,
                on_attempt=self.attempts.append,
                transport=transport,
                resolver=resolver or Resolver([PUBLIC]),
                settings=settings,
                sleep=self._sleep,
                clock=clock,
                **kwargs,
            )
        )


def test_a_receiver_failing_twice_gets_three_signed_attempts() -> None:
    receiver = Receiver(httpx2.Response(500), httpx2.Response(503), httpx2.Response(200))
    body = callback_body("j1", "succeeded")
    run = Delivery()
    assert run.run(receiver.transport(), body=body)
    assert [(a.attempt, a.status, a.ok) for a in run.attempts] == [(1, 500, False), (2, 503, False), (3, 200, True)]
    assert run.attempts[0].error == "HTTP 500" and run.attempts[2].error is None
    assert all(a.url_masked == HOOK and a.seconds >= 0 for a in run.attempts)
    assert len(run.sleeps) == 2
    assert 0.5 <= run.sleeps[0] <= 1.0 and 1.0 <= run.sleeps[1] <= 2.0
    deliveries = {request.headers[DELIVERY_HEADER] for request in receiver.calls}
    assert len(deliveries) == 1  # one id for every attempt, so a receiver can drop repeats
    for number, request in enumerate(receiver.calls, start=1):
        assert request.method == "POST"
        assert request.content == body
        assert request.headers["content-type"] == "application/json"
        assert request.headers[ATTEMPT_HEADER] == str(number)
        assert verify(request.content, request.headers[SIGNATURE_HEADER], SECRET, now=NOW)


def test_the_request_goes_to_the_checked_address_with_the_original_host() -> None:
    receiver = Receiver(httpx2.Response(204))
    resolver = Resolver([PUBLIC])
    assert Delivery().run(receiver.transport(), resolver=resolver)
    assert resolver.calls == [("hooks.example.com", 443)]
    (request,) = receiver.calls
    assert request.url.host == PUBLIC  # pinned: no second lookup by the HTTP client
    assert request.headers["host"] == "hooks.example.com"
    assert request.extensions["sni_hostname"] == "hooks.example.com"


def test_every_attempt_failing_returns_false_after_the_last_without_a_final_sleep() -> None:
    run = Delivery()
    assert not run.run(Receiver(httpx2.Response(500)).transport(), attempts=4, backoff_s=2.0)
    assert [a.attempt for a in run.attempts] == [1, 2, 3, 4]
    assert len(run.sleeps) == 3
    assert 1.0 <= run.sleeps[0] <= 2.0 and 2.0 <= run.sleeps[1] <= 4.0 and 4.0 <= run.sleeps[2] <= 8.0


def test_redirects_are_failures_and_never_followed() -> None:
    receiver = Receiver(httpx2.Response(302, headers={"Location": "http://169.254.169.254/latest/meta-data"}))
    run = Delivery()
    assert not run.run(receiver.transport(), attempts=2)
    assert [str(request.url.path) for request in receiver.calls] == ["/invoiceai/done"] * 2
    assert run.attempts[0].status == 302
    assert "redirects are not followed" in str(run.attempts[0].error)


def test_a_network_error_is_an_attempt_without_status_then_retried() -> None:
    run = Delivery()
    assert run.run(Receiver(httpx2.ConnectError("connection refused"), httpx2.Response(202)).transport())
    assert run.attempts[0].status is None
    assert "ConnectError" in str(run.attempts[0].error)
    assert run.attempts[1].ok


def test_an_attempt_that_hangs_fails_at_the_timeout() -> None:
    async def hang(*args: object) -> Any:
        await asyncio.Event().wait()  # never set: only the timeout ends the wait

    no_answer, no_address = Delivery(), Delivery()
    assert not no_answer.run(httpx2.MockTransport(hang), attempts=1, timeout_s=0.01)
    assert not no_address.run(Receiver(httpx2.Response(200)).transport(), resolver=hang, attempts=1, timeout_s=0.01)
    assert no_answer.attempts[0].error == "no answer within 0.01 s"
    assert no_address.attempts[0].error == "the host did not resolve within 0.01 s"


def test_retry_after_on_429_sets_the_least_wait() -> None:
    run = Delivery()
    assert run.run(Receiver(httpx2.Response(429, headers={"Retry-After": "7"}), httpx2.Response(200)).transport())
    assert run.sleeps[0] >= 7


def test_a_name_that_does_not_resolve_is_retried() -> None:
    resolver = Resolver(FetchError("Could not resolve hooks.example.com"), [PUBLIC])
    receiver = Receiver(httpx2.Response(200))
    run = Delivery()
    assert run.run(receiver.transport(), resolver=resolver)
    assert run.attempts[0].status is None and "resolve" in str(run.attempts[0].error)
    assert len(receiver.calls) == 1


def test_the_reported_url_has_no_user_info_and_no_query() -> None:
    url = "https://user:hunter2@hooks.example.com/cb?token=s3cr3t#frag"
    run = Delivery()
    assert run.run(Receiver(httpx2.Response(500), httpx2.Response(200)).transport(), url=url)
    for attempt in run.attempts:
        assert attempt.url_masked == "https://hooks.example.com/cb"
        assert "hunter2" not in repr(attempt) and "s3cr3t" not in repr(attempt)


def test_attempts_must_be_at_least_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Delivery().run(Receiver(httpx2.Response(200)).transport(), attempts=0)


def test_send_attempt_makes_one_signed_attempt_with_the_given_number() -> None:
    receiver = Receiver(httpx2.Response(503, headers={"Retry-After": "12"}))
    reports: list[WebhookAttempt] = []
    sent = asyncio.run(
        send_attempt(
            HOOK, b"{}", secret=SECRET, number=4, delivery_id="j1:succeeded", on_attempt=reports.append,
            settings=STRICT, transport=receiver.transport(), resolver=Resolver([PUBLIC]), clock=lambda: NOW,
        )
    )  # fmt: skip
    assert sent == (False, 12.0)
    (request,) = receiver.calls
    assert (request.headers[ATTEMPT_HEADER], request.headers[DELIVERY_HEADER]) == ("4", "j1:succeeded")
    assert verify(request.content, request.headers[SIGNATURE_HEADER], SECRET, now=NOW)
    assert [(r.attempt, r.status, r.error) for r in reports] == [(4, 503, "HTTP 503")]


# --- the SSRF guard --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "addresses", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", None, "link-local"),  # cloud metadata
        ("http://[fd00:ec2::254]/latest/", None, "private"),
        ("https://hooks.example.com/cb", ["10.0.0.5"], "private"),
        ("https://hooks.example.com/cb", [PUBLIC, "127.0.0.1"], "loopback"),  # every address must be public
        ("http://localhost:8080/cb", ["127.0.0.1", "::1"], "loopback"),
        ("file:///etc/passwd", None, "only http and https"),
        ("gopher://hooks.example.com/", None, "only http and https"),
    ],
)
def test_internal_and_odd_urls_are_refused_before_any_request(
    url: str, addresses: list[str] | None, reason: str
) -> None:
    receiver = Receiver(httpx2.Response(200))
    run = Delivery()
    with pytest.raises(UnsafeURLError, match=reason):
        run.run(receiver.transport(), url=url, resolver=Resolver(addresses or [PUBLIC]))
    assert receiver.calls == []
    (attempt,) = run.attempts  # refused once, never retried
    assert attempt.status is None and attempt.error is not None and attempt.error.startswith("refused:")


def test_dns_rebinding_between_attempts_is_caught_before_the_second_request() -> None:
    resolver = Resolver([PUBLIC], ["169.254.169.254"])
    receiver = Receiver(httpx2.Response(500), httpx2.Response(200))
    run = Delivery()
    with pytest.raises(UnsafeURLError, match="link-local"):
        run.run(receiver.transport(), resolver=resolver)
    assert len(receiver.calls) == 1
    assert len(resolver.calls) == 2  # checked again before the second attempt
    assert [a.status for a in run.attempts] == [500, None]


def test_loopback_is_allowed_only_by_the_url_sources_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    public = asyncio.run(check_callback_url(HOOK, settings=STRICT, resolver=Resolver([PUBLIC])))
    assert (public.url.host, public.headers) == (PUBLIC, {"Host": "hooks.example.com"})
    url = "http://127.0.0.1:9/cb"
    with pytest.raises(UnsafeURLError, match="loopback"):
        asyncio.run(check_callback_url(url, settings=STRICT))
    assert asyncio.run(check_callback_url(url, settings=OPT_IN)).url.host == "127.0.0.1"
    monkeypatch.setenv("INVOICEAI_ALLOW_PRIVATE_URLS", "1")  # the default settings read it
    assert asyncio.run(check_callback_url(url)).url.host == "127.0.0.1"
    monkeypatch.setenv("INVOICEAI_ALLOW_PRIVATE_URLS", "0")
    with pytest.raises(UnsafeURLError, match="allow_private_urls"):
        asyncio.run(check_callback_url(url))


# --- a real receiver on 127.0.0.1 --------------------------------------------------------------------


class _FlakyReceiver(BaseHTTPRequestHandler):
    """Fails the first two calls with a 500, then accepts; checks every signature with verify()."""

    calls: ClassVar[list[tuple[bytes, bool, str]]] = []
    lock: ClassVar[threading.Lock] = threading.Lock()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        signed = verify(body, self.headers.get(SIGNATURE_HEADER), SECRET)
        with self.lock:
            self.calls.append((body, signed, self.headers.get(DELIVERY_HEADER, "")))
            status = 500 if len(self.calls) <= 2 else (200 if signed else 401)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None: ...  # nothing may reach stderr


@pytest.fixture
def flaky_receiver() -> Iterator[str]:
    _FlakyReceiver.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FlakyReceiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/invoiceai?token=abc"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_real_receiver_that_fails_twice_gets_the_callback_on_the_third_attempt(flaky_receiver: str) -> None:
    body = callback_body("job_123", "succeeded", batch_id="batch_9")
    with pytest.raises(UnsafeURLError, match="loopback"):  # only with the setting that URL sources use
        Delivery().run(None, url=flaky_receiver, settings=STRICT)
    assert _FlakyReceiver.calls == []
    run = Delivery()
    # The real transport and clock: the receiver checks the signature against its own time.
    assert run.run(None, url=flaky_receiver, body=body, settings=OPT_IN, clock=time.time)
    assert [(a.status, a.ok) for a in run.attempts] == [(500, False), (500, False), (200, True)]
    assert [(got, signed) for got, signed, _ in _FlakyReceiver.calls] == [(body, True)] * 3
    assert len({delivery for _, _, delivery in _FlakyReceiver.calls}) == 1
    assert len(run.sleeps) == 2
    assert run.attempts[0].url_masked == re.sub(r"\?.*", "", flaky_receiver)


# --- the docs page -----------------------------------------------------------------------------------


def test_the_verification_example_in_the_docs_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert blocks, "docs/webhooks.md should show how to verify a signature in Python"
    namespace: dict[str, Any] = {"__name__": "docs_webhooks"}
    for block in blocks:
        exec(compile(block, str(DOCS), "exec"), namespace)
    check = namespace.get("check_example")
    assert callable(check), "the docs example defines check_example() to prove it works"
    check()


def test_importing_the_module_loads_no_http_client() -> None:
    code = (
        "import sys, invoiceai.server.webhooks\n"
        "print([m for m in ('httpx2', 'httpcore2', 'pydantic', 'fastapi') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
