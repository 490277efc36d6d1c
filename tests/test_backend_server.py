"""ClaudeBackend against the loopback fake server: real sockets, resets, stalls, env configuration."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from claude_fakes import ANSWER, FAST, settings
from invoiceai.backends import ClaudeBackend, RetryPolicy
from invoiceai.config import DEFAULT_MODEL
from invoiceai.errors import ConfigurationError
from invoiceai.schema import Invoice
from invoiceai.testing import FakeClaudeAPI, Fault, StaticPages

KEY = "sk-ant-api03-loopback-test-key"


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def sent_key(headers: dict[str, str]) -> str:
    # The SDK sends the key as x-api-key or as a bearer token, depending on its version.
    return headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")


def extract(backend: ClaudeBackend, flavour: str, source: StaticPages) -> object:
    if flavour == "sync":
        return backend.extract(source, Invoice)

    async def go() -> object:
        try:
            return await backend.aextract(source, Invoice)
        finally:
            await backend.aclose()

    return asyncio.run(go())


def test_environment_configures_the_client(flavour: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeClaudeAPI(answer=ANSWER).serve() as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        backend = ClaudeBackend(retry=FAST, settings=settings())
        result = extract(backend, flavour, StaticPages.blank(1, width=300, height=400))
        backend.close()
    assert result.data.invoice_number == "INV-1"  # type: ignore[attr-defined]
    request = server.api.message_requests[0]
    assert sent_key(request.headers) == KEY
    assert request.headers.get("x-stainless-retry-count") == "0"


def test_constructor_arguments_win_over_the_environment(flavour: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-api03-from-env")
    with FakeClaudeAPI(answer=ANSWER).serve() as server:
        backend = ClaudeBackend(base_url=server.base_url, api_key=KEY, retry=FAST, settings=settings())
        extract(backend, flavour, StaticPages.blank(1, width=300, height=400))
    assert sent_key(server.api.message_requests[0].headers) == KEY


def test_missing_key_is_a_configuration_error_before_any_request(flavour: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeClaudeAPI(answer=ANSWER).serve() as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        backend = ClaudeBackend(settings=settings())
        with pytest.raises(ConfigurationError, match="ANTHROPIC_API_KEY"):
            extract(backend, flavour, StaticPages.blank(1, width=300, height=400))
    assert server.api.requests == []


@pytest.mark.parametrize(
    "fault", [Fault.connection_reset(), Fault.read_timeout(5), Fault.overloaded()], ids=["reset", "timeout", "529"]
)
def test_network_faults_over_real_sockets_are_retried(flavour: str, fault: Fault) -> None:
    with FakeClaudeAPI(answer=ANSWER).enqueue(fault, fault).serve() as server:
        backend = ClaudeBackend(
            base_url=server.base_url, api_key=KEY, retry=FAST, settings=settings(request_timeout=0.5)
        )
        result = extract(backend, flavour, StaticPages.blank(1, width=300, height=400))
    assert result.attempts == 3  # type: ignore[attr-defined]
    assert len(server.api.message_requests) == 3


def test_a_429_cooldown_holds_back_every_concurrent_call(flavour: str) -> None:
    """A call that starts during another call's 429 cooldown waits it out instead of hammering."""
    api = FakeClaudeAPI(answer=ANSWER, latency=0.4, max_concurrency=1, concurrency_retry_after=1.0)
    with api.serve() as server:
        backend = ClaudeBackend(base_url=server.base_url, api_key=KEY, retry=FAST, settings=settings())
        sources = [StaticPages.blank(1, width=200, height=260) for _ in range(3)]
        extract(backend, flavour, sources[0])  # warm up: client built, capabilities known
        warm = len(api.requests)
        delays = [0.0, 0.1, 0.3]  # B is refused while A runs; C starts inside B's cooldown
        if flavour == "sync":
            errors: list[BaseException] = []

            def work(source: StaticPages, delay: float) -> None:
                time.sleep(delay)
                try:
                    backend.extract(source, Invoice)
                except BaseException as exc:  # pragma: no cover - reported below
                    errors.append(exc)

            threads = [threading.Thread(target=work, args=pair) for pair in zip(sources, delays, strict=True)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert errors == []
        else:

            async def work_async(source: StaticPages, delay: float) -> None:
                await asyncio.sleep(delay)
                await backend.aextract(source, Invoice)

            async def all_of_them() -> None:
                await asyncio.gather(*(work_async(s, d) for s, d in zip(sources, delays, strict=True)))
                await backend.aclose()

            asyncio.run(all_of_them())
        backend.close()

    requests = api.requests[warm:]
    assert api.concurrency_rejections >= 1
    refusals = [request for request in requests if request.status == 429]
    first_refusal = refusals[0].started
    # Nothing but requests already in flight reaches the server during the cooldown.
    during = [request for request in requests if first_refusal + 0.05 < request.started < first_refusal + 0.95]
    assert during == []
    assert sum(1 for request in requests if request.status == 200) == 3


def test_benchmark_style_load_with_latency_and_a_concurrency_cap() -> None:
    api = FakeClaudeAPI(answer=ANSWER, latency=0.05, max_concurrency=4, concurrency_retry_after=0.1)
    with api.serve() as server:
        backend = ClaudeBackend(
            base_url=server.base_url,
            api_key=KEY,
            retry=RetryPolicy(max_attempts=20, max_seconds=30, base_delay=0.01, max_delay=0.05),
            settings=settings(),
        )

        async def many() -> list[object]:
            sources = [StaticPages.blank(1, width=100, height=130) for _ in range(12)]
            try:
                return await asyncio.gather(*(backend.aextract(source, Invoice) for source in sources))
            finally:
                await backend.aclose()

        results = asyncio.run(many())
    assert len(results) == 12
    assert api.peak_concurrency <= 4
    assert sum(1 for request in api.message_requests if request.status == 200) == 12


def test_one_backend_serves_sync_and_async_calls_in_any_order() -> None:
    server = FakeClaudeAPI(answer=ANSWER).serve()
    with server, ClaudeBackend(base_url=server.base_url, api_key=KEY, retry=FAST, settings=settings()) as backend:
        source = StaticPages.blank(1, width=200, height=260)
        backend.extract(source, Invoice)
        asyncio.run(backend.aextract(source, Invoice))
        asyncio.run(backend.aextract(source, Invoice))  # a new event loop gets a new client
        backend.close()
        backend.extract(source, Invoice)  # closing is not the end
    assert [request.status for request in server.api.message_requests] == [200] * 4
    assert server.api.model_lookups == [DEFAULT_MODEL]
