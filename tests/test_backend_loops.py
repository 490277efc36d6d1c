"""One backend used from several event loops: each loop keeps its own async client."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from documents_factory import example_invoice
from invoiceai.backends import ClaudeBackend
from invoiceai.schema import Invoice
from invoiceai.testing import FakeClaudeAPI, StaticPages


def test_concurrent_loops_do_not_replace_each_others_client() -> None:
    api = FakeClaudeAPI(answer=example_invoice().model_dump(mode="json"), latency=0.02)
    with api.serve() as server:
        backend = ClaudeBackend(
            "claude-haiku-4-5", base_url=server.base_url, api_key="sk-ant-loops", detect_capabilities=False
        )
        clients: dict[str, set[int]] = {}
        both_running = threading.Barrier(2)

        async def work(name: str) -> None:
            both_running.wait()  # the two loops are alive at the same time
            for _ in range(4):
                result = await backend.aextract(StaticPages.blank(1), Invoice)
                assert result.data.total == example_invoice().total
                clients.setdefault(name, set()).add(id(await backend._clients.async_or_none()))
            await backend.aclose()

        errors: list[BaseException] = []

        def run(name: str) -> None:
            try:
                asyncio.run(work(name))
            except BaseException as exc:  # recorded for the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(name,)) for name in ("a", "b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert errors == []
    assert all(len(ids) == 1 for ids in clients.values())  # one client per loop, for all its calls
    assert clients["a"] != clients["b"]
    assert len(api.message_requests) == 8


def test_sequential_asyncio_runs_each_get_a_working_client() -> None:
    api = FakeClaudeAPI(answer=example_invoice().model_dump(mode="json"))
    with api.serve() as server:
        backend = ClaudeBackend(
            "claude-haiku-4-5", base_url=server.base_url, api_key="sk-ant-loops", detect_capabilities=False
        )

        async def once() -> Any:
            return (await backend.aextract(StaticPages.blank(1), Invoice)).data.invoice_number

        assert [asyncio.run(once()) for _ in range(3)] == ["INV-2026-0042"] * 3
