"""A collector killed with SIGKILL half-way: collecting again sends nothing twice and loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path

import pytest

import invoiceai
from claude_fakes import ANSWER
from documents_factory import png_invoice
from invoiceai import Extractor
from invoiceai.backends import ClaudeBackend
from invoiceai.backends.claude.batch.items import BatchLimits
from invoiceai.cache import SQLiteCache
from invoiceai.cache.batch_store import SQLiteBatchStore, batch_store_path
from invoiceai.config import Settings
from invoiceai.testing import FakeClaudeAPI, RecordedRequest

COLLECTOR = """
import sys
from invoiceai import Extractor
from invoiceai.backends import ClaudeBackend
from invoiceai.config import Settings

base_url, cache, job_id = sys.argv[1:4]
backend = ClaudeBackend(base_url=base_url, api_key="sk-ant-test", settings=Settings(max_attempts=2))
with Extractor(backend=backend, cache=cache) as extractor:
    extractor.collect_batch(job_id, sleep=lambda seconds: None)
print("finished")
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="SIGKILL is a POSIX signal")
def test_a_collector_killed_after_storing_some_results_resumes_without_resending(tmp_path: Path) -> None:
    arrived, release = threading.Event(), threading.Event()

    def hold_second_results(request: RecordedRequest) -> None:
        # The collector stores batch 1's results, then asks for batch 2's: it is held there and killed.
        if request.path.endswith("msgbatch_fake_000002/results") and not arrived.is_set():
            arrived.set()
            release.wait(60)

    api = FakeClaudeAPI(answer=ANSWER, usage={"input_tokens": 1000, "output_tokens": 200})
    paths = []
    for number in range(5):
        path = tmp_path / f"{number}.png"
        path.write_bytes(png_invoice(str(number)))
        paths.append(path)
    cache = tmp_path / "cache.db"
    with api.serve() as server:
        backend = ClaudeBackend(base_url=server.base_url, api_key="sk-ant-test", settings=Settings(max_attempts=2))
        with Extractor(backend=backend, cache=SQLiteCache(cache)) as extractor:
            job = extractor.submit_batch(paths, limits=BatchLimits(max_requests=2))
            assert job.batches == 3
            api.on_request = hold_second_results
            source_root = str(Path(invoiceai.__file__).resolve().parents[1])
            env = {**os.environ, "PYTHONPATH": source_root}
            collector = subprocess.Popen(
                [sys.executable, "-c", COLLECTOR, server.base_url, str(cache), job.id],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )  # fmt: skip
            try:
                assert arrived.wait(60), collector.communicate(timeout=5)
                stored = SQLiteBatchStore(batch_store_path(cache))
                assert len(stored.read(job.id, "res")) == 2  # batch 1's results were stored before the kill
                stored.close()
                collector.send_signal(signal.SIGKILL)
                collector.wait(30)
            finally:
                release.set()
                if collector.poll() is None:
                    collector.kill()
            assert collector.returncode == -signal.SIGKILL
            api.on_request = None
            results = extractor.collect_batch(job.id, sleep=lambda seconds: None)
    assert [result.ok for result in results] == [True] * 5
    # Usage is what was paid, once per request, at the batch price: half the live $0.004.
    assert [(result.usage.requests, result.usage.cost_usd) for result in results] == [(1, Decimal("0.002"))] * 5
    assert [result.source for result in results] == [str(path) for path in paths]
    submitted = api.batches.submitted
    assert sorted(submitted) == sorted(set(submitted)) and len(submitted) == 5  # nothing sent twice
    fetched = [request.path for request in api.requests if request.path.endswith("/results")]
    assert fetched.count("/v1/messages/batches/msgbatch_fake_000001/results") == 1  # kept, not fetched again
