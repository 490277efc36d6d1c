"""Batch jobs across an upgrade and a second look (review r3, items D2-3, D2-4, D2-5, D2-8).

A paid job must still collect when the prompt changed between submit and collect, a cached
document keeps saying so on every collect, a result that no longer fits says what happened,
and ``invoiceai batch submit`` checks its arguments as ``extract`` does.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

import invoiceai.backends.claude.backend as claude_backend
import invoiceai.backends.claude.request as request_module
from claude_fakes import ANSWER, settings
from cli_helpers import run
from documents_factory import pdf_invoice, png_invoice
from invoiceai import Extractor
from invoiceai.backends import ClaudeBackend
from invoiceai.backends.claude.chunking import RequestLimits
from invoiceai.cache import MemoryCache
from invoiceai.cache.batch_store import MemoryBatchStore
from invoiceai.errors import ExtractionValidationError
from invoiceai.testing import FakeClaudeAPI


@pytest.fixture
def api() -> FakeClaudeAPI:
    return FakeClaudeAPI(answer=ANSWER, usage={"input_tokens": 1000, "output_tokens": 200})


def extractor(api: FakeClaudeAPI, cache: MemoryCache | None = None, **limits: int) -> Extractor:
    backend = ClaudeBackend(client=api.client(), settings=settings(), limits=RequestLimits(**limits))
    return Extractor(backend=backend, cache=cache)


# -- D2-3: a prompt change between submit and collect -------------------------------------------


def test_d2_3_a_prompt_upgrade_between_submit_and_collect_sends_nothing_again(
    api: FakeClaudeAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = MemoryBatchStore()
    api.batches.auto_end = False
    with extractor(api, max_pages=2) as first:
        job = first.submit_batch([pdf_invoice("long", pages=6)], batch_store=store)
    sent = list(api.batches.submitted)
    assert len(sent) == 3  # the first chunk, and the two later ones sent ahead
    # A newer invoiceai: another system prompt and prompt version (so another fingerprint).
    monkeypatch.setattr(request_module, "SYSTEM_PROMPT", request_module.SYSTEM_PROMPT + "\nBe thorough.\n")
    monkeypatch.setattr(claude_backend, "PROMPT_VERSION", "upgraded")
    api.batches.end()
    api.batches.auto_end = True
    with extractor(api, max_pages=2) as second:
        (result,) = second.collect_batch(job.id, batch_store=store, sleep=lambda seconds: None)
    assert result.ok, result
    assert list(api.batches.submitted) == sent  # no chunk paid twice
    assert result.usage.requests == 3
    assert not [recorded for recorded in api.requests if recorded.path == "/v1/messages"]  # nothing live
    assert sum("rebuilt differently" in warning for warning in result.warnings) == 3


def test_d2_3_prompt_version_is_bumped_and_in_the_cache_key() -> None:
    assert request_module.PROMPT_VERSION == "3"
    backend = ClaudeBackend(client=FakeClaudeAPI(answer=ANSWER).client(), settings=settings())
    assert ";prompt=3;" in backend.fingerprint()


# -- D2-4: cached documents in a batch job -------------------------------------------------------


def test_d2_4_a_cached_document_says_cached_on_every_collect(api: FakeClaudeAPI) -> None:
    store, cache = MemoryBatchStore(), MemoryCache()
    a, b = png_invoice("a"), png_invoice("b")
    with extractor(api, cache) as live:
        live.extract(a)
    with extractor(api, cache) as submitting:
        job = submitting.submit_batch([a, b], batch_store=store)
        first = submitting.collect_batch(job.id, batch_store=store, sleep=lambda seconds: None)
    with extractor(api, cache) as other_process:
        again = other_process.collect_batch(job.id, batch_store=store, sleep=lambda seconds: None)
    assert [result.cached for result in first] == [True, False]
    assert [result.cached for result in again] == [True, False]
    assert [result.origin for result in again] == ["model", "model"]


# -- D2-8: a stored result that no longer fits ----------------------------------------------------


class Other(BaseModel):
    invoice_number: str
    something_required: int


def test_d2_8_a_result_that_no_longer_fits_is_a_typed_failure_that_says_so(api: FakeClaudeAPI) -> None:
    store = MemoryBatchStore()
    with extractor(api) as first:
        job = first.submit_batch([png_invoice("a")], batch_store=store)
        (done,) = first.collect_batch(job.id, batch_store=store, sleep=lambda seconds: None)
    assert done.ok
    requests = len(api.batches.submitted)
    with extractor(api) as second, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the cache layer warns that the stored data does not fit
        (other,) = second.collect_batch(job.id, batch_store=store, schema=Other, sleep=lambda seconds: None)
    assert not other.ok and isinstance(other.error, ExtractionValidationError)
    message = other.error.message
    assert "is stored" in message and "Other" in message and "schema=Invoice" in message
    assert "submit it again" not in message
    assert other.document_id == done.document_id
    assert len(api.batches.submitted) == requests  # nothing sent
    with extractor(api) as third:  # the right schema still reads it
        (again,) = third.collect_batch(job.id, batch_store=store, sleep=lambda seconds: None)
    assert again.ok and again.data == done.data


# -- D2-5: batch submit checks its arguments like extract ----------------------------------------


@pytest.fixture
def served(api: FakeClaudeAPI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeClaudeAPI]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("INVOICEAI_CACHE_DIR", str(tmp_path / "cache"))
    with api.serve() as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
        yield api


def test_d2_5_batch_submit_reads_a_directory_and_refuses_bad_arguments_before_work(
    served: FakeClaudeAPI, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = tmp_path / "inbox"
    (inbox / "deeper").mkdir(parents=True)
    (inbox / "a.png").write_bytes(png_invoice("a"))
    (inbox / "deeper" / "b.png").write_bytes(png_invoice("b"))
    cache = ["--cache", str(tmp_path / "jobs.db")]
    code, out, err = run(["batch", "submit", str(inbox), "--recursive", "--format", "json", *cache], capsys)
    assert code == 0, err
    job = json.loads(out)
    assert job["documents"] == 2
    for argv, says in [
        ([str(inbox / "zz.png")], "zz.png: no such file or directory"),
        ([str(inbox), "--pages", "abc"], "argument --pages: 'abc' does not parse"),
        ([str(tmp_path / "empty")], "no invoices in this directory"),
    ]:
        (tmp_path / "empty").mkdir(exist_ok=True)
        code, out, err = run(["batch", "submit", *argv, *cache], capsys)
        assert (code, out) == (2, ""), argv
        assert says in err and err.count("\n") == 1, err
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    code, _, err = run(["batch", "submit", str(inbox), *cache], capsys)
    assert code == 2 and "ANTHROPIC_API_KEY" in err and "api_key=" not in err
    assert len(served.batches.submitted) == 2  # only the first submission sent anything


def test_d2_5_batch_collect_prints_failures_in_cli_words_and_a_summary(
    served: FakeClaudeAPI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, broken = tmp_path / "a.png", tmp_path / "broken.pdf"
    good.write_bytes(png_invoice("a"))
    broken.write_bytes(b"%PDF-1.7\n% truncated in transit")
    cache = ["--cache", str(tmp_path / "jobs.db")]
    code, job_id, _ = run(["batch", "submit", str(good), str(broken), *cache], capsys)
    assert code == 0
    out_file = tmp_path / "results.jsonl"
    code, out, err = run(
        ["batch", "collect", job_id.strip(), "--format", "jsonl", "--out", str(out_file), "--poll", "0.01", *cache],
        capsys,
    )
    assert (code, out) == (1, "")
    assert len(out_file.read_text().splitlines()) == 2
    lines = err.splitlines()
    assert lines[0].startswith(f"invoiceai: {broken}: CorruptDocumentError: ")
    assert lines[-1].startswith("invoiceai: 2 documents: 1 succeeded, 1 failed; 0 from e-invoice, 0 from cache; ")
