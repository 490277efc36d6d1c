"""The API key never appears in logs, exception messages or reprs."""

from __future__ import annotations

import asyncio
import logging
import traceback
from pathlib import Path

import pytest

from claude_fakes import ANSWER, FAST, run, settings
from invoiceai.backends import ClaudeBackend, RetryPolicy
from invoiceai.errors import InvoiceAIError
from invoiceai.schema import Invoice
from invoiceai.testing import API_KEY_PLACEHOLDER, API_KEY_TAIL_PLACEHOLDER, FakeClaudeAPI, Fault, StaticPages

SK_KEY = "sk-ant-api03-SuperSecretValue0123456789"
PLAIN_KEY = "plain-secret-without-the-usual-prefix-42"


def scenarios(key: str) -> list[Fault]:
    # A server that echoes the key back is the worst case: our messages must still mask it.
    return [
        Fault.unauthorized(f"invalid x-api-key: {key}"),
        Fault.bad_request(f"bad request for key {key}"),
        Fault.spend_limit(),
        Fault.refusal(f"refused {key}"),
    ]


@pytest.mark.parametrize("key", [SK_KEY, PLAIN_KEY], ids=["sk-ant", "plain"])
@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_key_never_leaks(
    key: str, flavour: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: ours, anthropic's, httpx2's
    texts: list[str] = []
    with FakeClaudeAPI(answer=ANSWER).serve() as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", key)
        api = server.api
        backend = ClaudeBackend(retry=FAST, settings=settings())
        texts += [repr(backend), str(backend), backend.fingerprint()]
        source = StaticPages.blank(1, width=300, height=400)

        def attempt() -> None:
            if flavour == "sync":
                result = backend.extract(source, Invoice)
            else:
                result = asyncio.run(backend.aextract(source, Invoice))
            texts.extend([repr(result), str(result)])

        # Successes after transient faults and a re-ask, then each fatal error in turn.
        api.enqueue(Fault.rate_limited(retry_after_ms=10), Fault.connection_reset(), Fault.reply('{"line_items": 1}'))
        attempt()
        for fault in scenarios(key):
            api.enqueue(fault)
            with pytest.raises(InvoiceAIError) as caught:
                attempt()
            error = caught.value
            texts.extend([str(error), repr(error), error.message, str(error.context())])
        api.enqueue(*[Fault.overloaded()] * 3)
        backend_short = ClaudeBackend(retry=RetryPolicy(max_attempts=2, base_delay=0.001), settings=settings())
        with pytest.raises(InvoiceAIError) as caught:
            backend_short.extract(source, Invoice)
        texts.extend([str(caught.value), repr(caught.value), repr(backend_short)])
        backend.close()
        backend_short.close()

    assert api.message_requests, "the scenario must have reached the server"
    logs = caplog.text + "\n".join(record.getMessage() for record in caplog.records)
    assert "invoiceai.backends" in {record.name for record in caplog.records}
    for text in [logs, *texts]:
        assert key not in text


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_the_key_of_an_injected_client_never_leaks(flavour: str, caplog: pytest.LogCaptureFixture) -> None:
    # No key in the environment: the only copy is inside the client the caller passed in.
    caplog.set_level(logging.DEBUG)
    api = FakeClaudeAPI(answer=ANSWER)
    if flavour == "sync":
        backend = ClaudeBackend(client=api.client(api_key=PLAIN_KEY), retry=FAST, settings=settings())
    else:
        backend = ClaudeBackend(async_client=api.async_client(api_key=PLAIN_KEY), retry=FAST, settings=settings())
    source = StaticPages.blank(1, width=300, height=400)
    texts = [repr(backend), backend.fingerprint()]
    for fault in scenarios(PLAIN_KEY):
        api.enqueue(fault)
        with pytest.raises(InvoiceAIError) as caught:
            run(backend, flavour, source)
        error = caught.value
        texts.extend([str(error), repr(error), error.message, str(error.context())])
    assert len(api.message_requests) == 4
    for text in [caplog.text, *texts]:
        assert PLAIN_KEY not in text


# -- a server that echoes the key: in error bodies, 400 messages, headers; with and without prefix --

ECHO = {"sk-ant": SK_KEY, "plain": PLAIN_KEY}


def _tail(key: str) -> str:
    return key.removeprefix("sk-ant-api03-") if key.startswith("sk-ant-") else key.partition("-")[2]


def echo_faults() -> list[Fault]:
    full, tail = API_KEY_PLACEHOLDER, API_KEY_TAIL_PLACEHOLDER
    return [
        Fault.status_error(401, message=f"invalid x-api-key: {full}", headers={"x-echo": full}),
        Fault.status_error(400, message=f"bad request for key {tail}", details={"key": full, "hint": tail}),
        Fault.status_error(403, message="forbidden", headers={"request-id": full, "x-key-tail": tail}),
        Fault.status_error(404, message=f"model not found for %22{tail}%22"),
        Fault.refusal(f"refused {tail}"),
    ]


def chain_texts(error: BaseException) -> list[str]:
    """Every text an error can show: its traceback with the whole chain, and each member's str and repr."""
    texts = ["".join(traceback.format_exception(error))]
    member: BaseException | None = error
    seen: set[int] = set()
    stack = [member]
    while stack:
        member = stack.pop()
        if member is None or id(member) in seen:
            continue
        seen.add(id(member))
        texts += [str(member), repr(member)]
        stack += [member.__cause__, member.__context__]
    return texts


def log_texts(caplog: pytest.LogCaptureFixture) -> list[str]:
    formatter = logging.Formatter("%(name)s %(message)s")
    return [caplog.text, *(formatter.format(record) for record in caplog.records)]


@pytest.mark.parametrize("key_id", sorted(ECHO))
@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_an_echoed_key_appears_in_no_error_chain_traceback_or_log(
    key_id: str, flavour: str, caplog: pytest.LogCaptureFixture
) -> None:
    key = ECHO[key_id]
    caplog.set_level(logging.DEBUG)  # every logger: ours, anthropic's, httpx2's, httpcore2's
    api = FakeClaudeAPI(answer=ANSWER, response_headers={"x-echo": API_KEY_PLACEHOLDER})
    if flavour == "sync":
        backend = ClaudeBackend(client=api.client(api_key=key), retry=FAST, settings=settings())
    else:
        backend = ClaudeBackend(async_client=api.async_client(api_key=key), retry=FAST, settings=settings())
    source = StaticPages.blank(1, width=300, height=400)
    texts: list[str] = []
    raw_causes = 0
    for fault in echo_faults():
        api.enqueue(fault)
        with pytest.raises(InvoiceAIError) as caught:
            run(backend, flavour, source)
        texts += chain_texts(caught.value)
        raw_causes += caught.value.__cause__ is not None
    api.enqueue(*[Fault.status_error(529, message=f"overloaded {API_KEY_TAIL_PLACEHOLDER}")] * FAST.max_attempts)
    with pytest.raises(InvoiceAIError) as caught:
        run(backend, flavour, source)
    texts += chain_texts(caught.value)
    # A success whose request id echoes the key: the result keeps the ids.
    api.response_headers["request-id"] = API_KEY_PLACEHOLDER
    result = run(backend, flavour, source)
    texts += [repr(result), str(result)]

    assert raw_causes >= 4, "the SDK's exception (masked) stays on __cause__"
    sent = api.message_requests[0].headers
    assert key in (sent.get("x-api-key"), sent.get("authorization", "").removeprefix("Bearer ")), "the fake saw it"
    assert any("x-echo" in text for text in log_texts(caplog)), "the SDK logged the echoed header (masked)"
    for text in texts + log_texts(caplog):
        assert key not in text
        assert _tail(key) not in text


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_an_echoed_key_never_reaches_the_cache_file(flavour: str, tmp_path: Path) -> None:
    from invoiceai import Extractor
    from invoiceai.cache import SQLiteCache
    from invoiceai.testing import make_page_image

    key = SK_KEY
    # The worst a server can do: echo the key in every header and inside the extracted data.
    answer = dict(ANSWER, invoice_number=API_KEY_TAIL_PLACEHOLDER, buyer={"name": API_KEY_PLACEHOLDER})
    api = FakeClaudeAPI(answer=answer, response_headers={"request-id": API_KEY_PLACEHOLDER})
    api.enqueue(Fault.unauthorized(f"invalid x-api-key: {API_KEY_PLACEHOLDER}"))
    client = api.client(api_key=key) if flavour == "sync" else api.async_client(api_key=key)
    backend = ClaudeBackend(client=client, retry=FAST, settings=settings())
    cache = SQLiteCache(tmp_path / "cache.sqlite")
    document = make_page_image(300, 400)
    with Extractor(backend=backend, cache=cache) as extractor:
        for _ in range(2):  # a failure (never cached), then a success that is
            if flavour == "sync":
                outcome = extractor.extract_many([document])[0]
            else:
                outcome = asyncio.run(extractor.aextract_many([document]))[0]
        assert outcome.ok, outcome
    assert SQLiteCache(tmp_path / "cache.sqlite").info().entries == 1
    stored = b"".join(path.read_bytes() for path in tmp_path.iterdir() if path.is_file())
    assert b"ACME GmbH" in stored or b"ACME" in stored or len(stored) > 0
    for secret in (key, _tail(key)):
        assert secret.encode() not in stored
