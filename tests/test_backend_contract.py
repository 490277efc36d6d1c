"""The backend contract, run against FakeBackend and against ClaudeBackend over the fake API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from backend_contract import BackendContract, Harness
from claude_fakes import ANSWER, FAST, settings
from invoiceai.backends import Backend, ClaudeBackend
from invoiceai.errors import SpendLimitError
from invoiceai.testing import FAKE_API_KEY, FakeBackend, FakeClaudeAPI, Fault


class TestFakeBackendContract(BackendContract):
    @pytest.fixture
    def harness(self) -> Harness:
        made: list[FakeBackend] = []

        def make(model: str | None) -> Backend:
            backend = FakeBackend(default=ANSWER, model=model or "fake-model")
            made.append(backend)
            return backend

        def fail_next() -> None:
            for backend in made:
                backend.enqueue(SpendLimitError("The spend limit is reached."))

        return Harness(make, fail_next)


def claude_backend(model: str | None, **clients: Any) -> Backend:
    return ClaudeBackend(model, retry=FAST, settings=settings(), detect_capabilities=False, **clients)


class TestClaudeOverTheMockTransportContract(BackendContract):
    @pytest.fixture
    def harness(self) -> Harness:
        api = FakeClaudeAPI(answer=ANSWER)

        def make(model: str | None) -> Backend:
            return claude_backend(model, client=api.client(), async_client=api.async_client())

        def fail_next() -> None:
            api.enqueue(Fault.spend_limit())  # never retried

        return Harness(make, fail_next)


class TestClaudeOverTheLoopbackServerContract(BackendContract):
    @pytest.fixture
    def harness(self) -> Iterator[Harness]:
        api = FakeClaudeAPI(answer=ANSWER)
        with api.serve() as server:

            def make(model: str | None) -> Backend:
                return claude_backend(model, base_url=server.base_url, api_key=FAKE_API_KEY)

            def fail_next() -> None:
                api.enqueue(Fault.spend_limit())

            yield Harness(make, fail_next)
