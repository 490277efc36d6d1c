"""Message Batches jobs under stress: two collectors, lost answers, broken results, refused batches, cancellation."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from claude_fakes import ANSWER, settings
from documents_factory import png_invoice
from invoiceai import Extractor
from invoiceai.backends import ClaudeBackend
from invoiceai.backends.claude.batch.items import BatchLimits, job_prefix
from invoiceai.backends.claude.batch.session import BatchSession
from invoiceai.cache.batch_store import MemoryBatchStore, SQLiteBatchStore
from invoiceai.config import Settings
from invoiceai.errors import BackendConnectionError, ConfigurationError, DocumentTooLargeError, RequestRejectedError
from invoiceai.extractor.batch_errors import BatchBusyError, BatchTimeoutError
from invoiceai.extractor.batch_state import JobMeta, JobState, RequestRecord
from invoiceai.testing import FakeClaudeAPI, ItemFault, RecordedRequest, fake_batches
from invoiceai.testing.plans import Plan

USAGE = {"input_tokens": 1000, "output_tokens": 200}
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def extractor(api: FakeClaudeAPI, **options: Any) -> Extractor:
    backend_settings = options.pop("backend_settings", settings())
    return Extractor(backend=ClaudeBackend(client=api.client(), settings=backend_settings), cache=None, **options)


def no_sleep(seconds: float) -> None:
    raise AssertionError(f"collect waited {seconds}s although every batch had ended")


def short(api: FakeClaudeAPI, job_id: str) -> list[str]:
    prefix = job_prefix(job_id) + "-"
    assert all(custom_id.startswith(prefix) for custom_id in api.batches.submitted)
    return [custom_id.removeprefix(prefix) for custom_id in api.batches.submitted]


# -- 1. one collector at a time ------------------------------------------------------------------------


def test_two_collectors_take_turns_and_send_a_follow_up_once(tmp_path: Path) -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    api.batches.enqueue(ItemFault.expired())  # the first round's item needs a follow-up
    path = tmp_path / "jobs.sqlite3"
    with extractor(api) as first:
        job = first.submit_batch([png_invoice("a")], batch_store=SQLiteBatchStore(path))
    creating, release, a_done = threading.Event(), threading.Event(), threading.Event()

    def hold_the_follow_up(request: RecordedRequest) -> None:
        if request.method == "POST" and request.path.endswith("/messages/batches") and not creating.is_set():
            creating.set()
            release.wait(30)

    def b_waits(seconds: float) -> None:  # B found the job busy: let A finish, then look again
        release.set()
        assert a_done.wait(30)

    api.on_request = hold_the_follow_up
    out: dict[str, Any] = {}

    def collect(name: str, sleep: Any) -> None:
        with extractor(api) as mine:
            out[name] = mine.collect_batch(job.id, batch_store=SQLiteBatchStore(path), sleep=sleep)
        if name == "A":
            a_done.set()

    a = threading.Thread(target=collect, args=("A", no_sleep))
    a.start()
    assert creating.wait(30)  # A holds the lease and is inside the follow-up's create
    with extractor(api) as other, pytest.raises(BatchBusyError, match=job.id):
        other.poll_batch(job.id, batch_store=SQLiteBatchStore(path))
    b = threading.Thread(target=collect, args=("B", b_waits))
    b.start()
    a.join(30)
    b.join(30)
    assert short(api, job.id) == ["d0-s0-a1", "d0-s0-a2"]  # the follow-up went out once
    assert [result.usage.requests for result in out["A"] + out["B"]] == [2, 2]
    assert out["A"][0].ok and out["B"][0].ok


# -- 2. the job's own settings ----------------------------------------------------------------------------


def test_a_job_is_collected_with_the_settings_it_was_submitted_with() -> None:
    facturx = EXAMPLES / "sample-facturx.pdf"
    if not facturx.exists():
        pytest.skip(f"{facturx} is not in this checkout")
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    store = MemoryBatchStore()
    with extractor(api, prefer_embedded=False, validation_context={"currency": "EUR"}) as submitting:
        job = submitting.submit_batch([facturx], batch_store=store)
    assert job.sent == 1
    with extractor(api) as collecting:  # prefer_embedded=True here: the job's False wins
        (result,) = collecting.collect_batch(job.id, batch_store=store, sleep=no_sleep)
    assert (result.origin, result.usage.requests) == ("model", 1)
    options = JobMeta.load(store, job.id).options
    assert options["validation_context"] == {"currency": "EUR"} and options["max_attempts"] == settings().max_attempts
    other = extractor(api, backend_settings=settings(max_reasks=0))
    with other, pytest.raises(ConfigurationError, match="max_reasks=2"):
        other.collect_batch(job.id, batch_store=store)


def test_the_cli_collects_with_the_jobs_own_setup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from invoiceai.cli.main import main

    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    source = tmp_path / "a.png"
    source.write_bytes(png_invoice("a"))
    cache = ["--cache", str(tmp_path / "cache.db")]
    with api.serve() as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
        monkeypatch.setenv("INVOICEAI_MAX_REASKS", "1")
        assert main(["batch", "submit", str(source), "--mode", "images", "--model", "claude-haiku-4-5", *cache]) == 0
        job_id = capsys.readouterr().out.strip()
        monkeypatch.delenv("INVOICEAI_MAX_REASKS")
        assert main(["batch", "collect", job_id, "--format", "jsonl", *cache]) == 0  # no flags needed
    out = capsys.readouterr().out
    assert '"model": "claude-haiku-4-5"' in out or '"model":"claude-haiku-4-5"' in out


# -- 3. a results line that cannot be read ------------------------------------------------------------------


def test_an_unreadable_results_line_is_skipped_and_its_item_sent_again(monkeypatch: pytest.MonkeyPatch) -> None:
    original = fake_batches.FakeBatches._results
    broken: list[bytes] = []

    def first_line_broken(self: Any, batch: Any, rid: str) -> Plan:
        plan = original(self, batch, rid)
        if broken:
            return plan
        first, _, rest = plan.body.partition(b"\n")
        broken.append(first)
        return Plan(plan.action, plan.status, plan.headers, first[:60] + b"\n" + rest)  # cut off: not JSON

    monkeypatch.setattr(fake_batches.FakeBatches, "_results", first_line_broken)
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    store = MemoryBatchStore()
    with extractor(api) as batched:
        job = batched.submit_batch([png_invoice("a"), png_invoice("b")], batch_store=store)
        results = batched.collect_batch(job.id, batch_store=store, sleep=no_sleep)
    assert all(result.ok for result in results)
    assert sum(any("could not be read" in warning for warning in result.warnings) for result in results) == 1
    retried = [name for name in short(api, job.id) if name.endswith("-a2")]
    assert len(retried) == 1 and retried[0].removesuffix("-a2").encode() in broken[0]  # only the unreadable one
    [counted] = [info for info in JobState.load(store, job.id).batches.values() if info.get("unreadable_lines")]
    assert counted["unreadable_lines"] == 1


# -- 4. a refused batch, a batch that is gone ------------------------------------------------------------------


def test_a_refused_batch_fails_only_its_documents(monkeypatch: pytest.MonkeyPatch) -> None:
    original = fake_batches._check_items

    def refuse_the_second(requests: Any, size: int) -> str | None:
        if isinstance(requests, list) and any(item["custom_id"].endswith("-d1-s0-a1") for item in requests):
            return "the batch is 300000000 bytes; at most 268435456 are allowed"
        return original(requests, size)

    monkeypatch.setattr(fake_batches, "_check_items", refuse_the_second)
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    store = MemoryBatchStore()
    with extractor(api) as batched:
        sources = [png_invoice("a"), png_invoice("b"), png_invoice("c")]
        job = batched.submit_batch(sources, limits=BatchLimits(max_requests=1), batch_store=store)
        first, refused, third = batched.collect_batch(job.id, batch_store=store, sleep=no_sleep)
        again = batched.collect_batch(job.id, batch_store=store, sleep=no_sleep)
    assert first.ok and third.ok
    assert isinstance(refused.error, RequestRejectedError) and "300000000 bytes" in refused.error.message
    assert short(api, job.id) == ["d0-s0-a1", "d2-s0-a1"] and not again[1].ok


def test_a_batch_whose_results_are_gone_counts_as_expired() -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    api.batches.auto_end = False
    store = MemoryBatchStore()
    with extractor(api) as batched:
        job = batched.submit_batch([png_invoice("a")], batch_store=store)
        api.batches.batches.clear()  # archived, deleted, or past the 29 days: 404
        api.batches.auto_end = True
        (result,) = batched.collect_batch(job.id, batch_store=store, sleep=no_sleep)
    assert result.ok and short(api, job.id) == ["d0-s0-a2"]


# -- 5. what is stored of a source -------------------------------------------------------------------------------


@pytest.fixture
def document_server() -> Iterator[str]:
    body = png_invoice("url")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_url_is_fetched_at_submission_and_no_credential_is_stored(document_server: str) -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    store = MemoryBatchStore()
    url = document_server.replace("http://", "http://user:hunter2@") + "/a.png?token=s3cret"
    opt_in = Settings(allow_private_urls=True, fetch_timeout=5)
    with Extractor(backend=ClaudeBackend(client=api.client(), settings=settings()), cache=None, settings=opt_in) as e:
        job = e.submit_batch([url], batch_store=store)
        (result,) = e.collect_batch(job.id, batch_store=store, sleep=no_sleep)
    stored = " ".join(str(store.read(job.id, kind)) for kind in ("meta", "doc", "req", "pending", "batch"))
    assert "hunter2" not in stored and "s3cret" not in stored and "user" not in stored
    assert result.ok and result.source == f"{document_server}/a.png"


def test_a_source_over_max_document_bytes_is_not_stored_and_fails_alone() -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    store = MemoryBatchStore()
    small = Settings(max_document_bytes=100_000)
    with Extractor(backend=ClaudeBackend(client=api.client(), settings=settings()), cache=None, settings=small) as e:
        job = e.submit_batch([io.BytesIO(b"%PDF-1.7\n" + b"0" * 2_000_000), png_invoice("a")], batch_store=store)
        too_large, fine = e.collect_batch(job.id, batch_store=store, sleep=no_sleep)
    assert sum(len(value) for value in store.read(job.id, "doc").values()) < 100_000
    assert isinstance(too_large.error, DocumentTooLargeError) and fine.ok
    assert short(api, job.id) == ["d1-s0-a1"]


# -- 6. timeouts and cancellation ------------------------------------------------------------------------------------


def test_collect_gives_up_after_its_timeout_and_the_job_stays_resumable() -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    api.batches.auto_end = False
    store = MemoryBatchStore()
    with extractor(api) as batched:
        job = batched.submit_batch([png_invoice("a")], batch_store=store)
        with pytest.raises(BatchTimeoutError, match=job.id) as raised:
            batched.collect_batch(job.id, batch_store=store, timeout=0, sleep=no_sleep)
        assert raised.value.job_id == job.id
        with pytest.raises(BatchTimeoutError, match=job.id):
            asyncio.run(batched.acollect_batch(job.id, batch_store=store, timeout=0, sleep=no_sleep))
        api.batches.end()
        (result,) = batched.collect_batch(job.id, batch_store=store, timeout=0, sleep=no_sleep)
    assert result.ok


def test_cancelling_acollect_stops_it() -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    api.batches.auto_end = False
    store = MemoryBatchStore()

    async def scenario() -> None:
        with extractor(api) as batched:
            job = await batched.asubmit_batch([png_invoice("a")], batch_store=store)
            waiting = asyncio.Event()

            async def sleep(seconds: float) -> None:
                waiting.set()
                await asyncio.Event().wait()  # forever, unless cancelled

            task = asyncio.ensure_future(batched.acollect_batch(job.id, batch_store=store, sleep=sleep))
            await waiting.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            looks = sum(request.method == "GET" for request in api.requests)
            await asyncio.sleep(0)
            assert sum(request.method == "GET" for request in api.requests) == looks  # nothing runs on

    asyncio.run(scenario())


# -- 7. a create whose answer was lost ------------------------------------------------------------------------------


def lose_answers(monkeypatch: pytest.MonkeyPatch, *, created: bool) -> list[int]:
    """The next create times out on its way back (``created``) or before reaching the API."""
    original = BatchSession.create
    lost: list[int] = []

    def create(self: BatchSession, requests: Any) -> Any:
        if not lost:
            lost.append(len(requests))
            if created:
                original(self, requests)
            raise BackendConnectionError("The Claude API request timed out after 1 attempt")
        return original(self, requests)

    monkeypatch.setattr(BatchSession, "create", create)
    return lost


@pytest.mark.parametrize("auto_end", [True, False])
def test_a_batch_created_without_an_answer_is_found_not_sent_again(
    monkeypatch: pytest.MonkeyPatch, auto_end: bool
) -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    api.batches.auto_end = auto_end
    lose_answers(monkeypatch, created=True)
    store = MemoryBatchStore()
    with extractor(api) as batched:
        with pytest.raises(BackendConnectionError, match=r"Batch job iaib_\w+ is stored"):
            batched.submit_batch([png_invoice("a"), png_invoice("b")], batch_store=store)
        [job_id] = store.jobs()
        if not auto_end:  # its batch still runs: it cannot be checked yet, so the documents wait
            progress = batched.poll_batch(job_id, batch_store=store)
            assert progress.results == (None, None) and progress.job.state == "in_progress"
            api.batches.end()
        results = batched.collect_batch(job_id, batch_store=store, sleep=no_sleep)
    assert all(result.ok for result in results) and [result.usage.requests for result in results] == [1, 1]
    assert short(api, job_id) == ["d0-s0-a1", "d1-s0-a1"] and len(api.batches.batches) == 1


def test_a_create_that_made_nothing_is_sent_again(monkeypatch: pytest.MonkeyPatch) -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    lose_answers(monkeypatch, created=False)
    store = MemoryBatchStore()
    with extractor(api) as batched:
        with pytest.raises(BackendConnectionError):
            batched.submit_batch([png_invoice("a")], batch_store=store)
        [job_id] = store.jobs()
        (result,) = batched.collect_batch(job_id, batch_store=store, sleep=no_sleep)
    assert result.ok and short(api, job_id) == ["d0-s0-a1"]


# -- 8. deleting a job ------------------------------------------------------------------------------------------------


def test_delete_removes_a_finished_job_and_keeps_a_running_one() -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    api.batches.auto_end = False
    store = MemoryBatchStore()
    with extractor(api) as batched:
        job = batched.submit_batch([png_invoice("a")], batch_store=store)
        with pytest.raises(ConfigurationError, match="force=True"):
            batched.delete_batch(job.id, batch_store=store)
        api.batches.end()
        batched.collect_batch(job.id, batch_store=store, sleep=no_sleep)
        batched.delete_batch(job.id, batch_store=store)
        assert store.jobs() == []
        with pytest.raises(ConfigurationError, match="No batch job"):
            batched.collect_batch(job.id, batch_store=store)


# -- 9. bookkeeping per look ----------------------------------------------------------------------------------------


class CountingDict(dict[str, RequestRecord]):
    walks = 0

    def values(self) -> Any:
        CountingDict.walks += 1
        return super().values()


def test_a_look_groups_the_requests_once_not_once_per_document() -> None:
    records = CountingDict(
        (f"d{index}-s0-a1", RequestRecord(f"d{index}-s0-a1", index, 0, 1, "b1", "x", f"id{index}"))
        for index in range(50)
    )
    meta = JobMeta("j", "t", "m", "f", "s", None, 50, BatchLimits())
    state = JobState(meta, {}, {"b1": {"round": 1, "collected": True}}, records, {})
    for index in range(50):
        assert state.attempts(index)[0][0].result == {"type": "expired"}
        assert state.sent_as(index) == f"id{index}"
    assert len(state.owners()) == 50
    assert CountingDict.walks <= 1
