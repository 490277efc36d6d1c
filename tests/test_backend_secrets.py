"""The API key never appears in logs, exception messages or reprs."""

from __future__ import annotations

import asyncio
import logging

import pytest

from claude_fakes import ANSWER, FAST, run, settings
from invoiceai.backends import ClaudeBackend, RetryPolicy
from invoiceai.errors import InvoiceAIError
from invoiceai.schema import Invoice
from invoiceai.testing import FakeClaudeAPI, Fault, StaticPages

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
