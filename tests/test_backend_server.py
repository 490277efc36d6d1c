"""ClaudeBackend against the loopback fake server: real sockets, resets, stalls, env configuration."""

from __future__ import annotations

import asyncio
import threading

import pytest

from claude_fakes import ANSWER, FAST, ROLE, FakeClock, settings
from invoiceai.backends import ClaudeBackend, RetryPolicy
from invoiceai.config import DEFAULT_MODEL
from invoiceai.errors import ConfigurationError
from invoiceai.schema import Invoice
from invoiceai.testing import FakeClaudeAPI, Fault, RecordedRequest, StaticPages

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
    ("fault", "timeout"),
    [(Fault.connection_reset(), 10.0), (Fault.read_timeout(5), 0.5), (Fault.overloaded(), 10.0)],
    ids=["reset", "timeout", "529"],
)
def test_network_faults_over_real_sockets_are_retried(flavour: str, fault: Fault, timeout: float) -> None:
    # Only the read-timeout case needs a short timeout; a loaded machine must not turn the others' answers
    # into extra timeouts.
    with FakeClaudeAPI(answer=ANSWER).enqueue(fault, fault).serve() as server:
        backend = ClaudeBackend(
            base_url=server.base_url, api_key=KEY, retry=FAST, settings=settings(request_timeout=timeout)
        )
        result = extract(backend, flavour, StaticPages.blank(1, width=300, height=400))
    assert result.attempts == 3  # type: ignore[attr-defined]
    assert len(server.api.message_requests) == 3


def test_a_429_cooldown_holds_back_every_concurrent_call(flavour: str) -> None:
    """A call that starts during another call's 429 cooldown waits it out instead of hammering.

    A is held in flight by the server until B has been refused (the server's cap is 1); C starts
    once B's backend has started the cooldown (B is then waiting to retry); B's wait is held until
    C has sent. Time is a fake clock shared by backend and server, so the assertions are exact.
    """
    clock = FakeClock()
    b_refused, b_cooling, c_sent = threading.Event(), threading.Event(), threading.Event()
    clock.hold["B"] = c_sent
    messages: list[RecordedRequest] = []
    roles = iter("ABC")

    def arrived(request: RecordedRequest) -> None:
        if not request.path.endswith("/v1/messages") or not warm.is_set():
            return
        role = next(roles, "B")  # A, B, C in order, then B's retry
        messages.append(request)
        if role == "A":
            started["A"].set()
            assert b_refused.wait(10)  # A stays in flight until B was turned away
        elif role == "B" and not b_refused.is_set():
            b_refused.set()
        elif role == "C":
            c_sent.set()

    warm = threading.Event()
    started = {"A": threading.Event()}
    api = FakeClaudeAPI(answer=ANSWER, max_concurrency=1, concurrency_retry_after=1.0, clock=clock.now,
                        on_request=arrived)  # fmt: skip
    clock.sleeping["B"] = b_cooling  # B sleeps once its 429 has started the cooldown
    with api.serve() as server:
        backend = ClaudeBackend(base_url=server.base_url, api_key=KEY, retry=FAST, settings=settings(), clock=clock)
        sources = {role: StaticPages.blank(1, width=200, height=260) for role in "ABC"}
        extract(backend, flavour, sources["A"])  # warm up: client built, capabilities known
        warm.set()
        a_done = threading.Event()
        # B once A is in flight; C once A is done (a free server) and B waits in its cooldown.
        waits = {"A": [], "B": [started["A"]], "C": [a_done, b_cooling]}
        if flavour == "sync":
            errors: list[BaseException] = []

            def work(role: str) -> None:
                ROLE.set(role)
                try:
                    assert all(event.wait(10) for event in waits[role])
                    backend.extract(sources[role], Invoice)
                    if role == "A":
                        a_done.set()
                except BaseException as exc:  # pragma: no cover - reported below
                    errors.append(exc)

            threads = [threading.Thread(target=work, args=(role,)) for role in "ABC"]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
            assert errors == []
        else:

            async def work_async(role: str) -> None:
                ROLE.set(role)
                for event in waits[role]:
                    assert await asyncio.to_thread(event.wait, 10)
                await backend.aextract(sources[role], Invoice)
                if role == "A":
                    a_done.set()

            async def all_of_them() -> None:
                await asyncio.gather(*(work_async(role) for role in "ABC"))
                await backend.aclose()

            asyncio.run(all_of_them())
        backend.close()

    requests = messages
    assert api.concurrency_rejections >= 1
    refusals = [request for request in requests if request.status == 429]
    first_refusal = refusals[0].started
    # Nothing but requests already in flight reaches the server during the cooldown.
    during = [request for request in requests if first_refusal + 0.05 < request.started < first_refusal + 0.95]
    assert during == []
    assert sum(1 for request in requests if request.status == 200) == 3
    assert clock.slept("C") >= 1.0 - 1e-9  # C waited out B's cooldown, all of it


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
