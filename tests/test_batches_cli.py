"""``invoiceai batch``: submit, status, collect (waiting or not) and list, against the loopback fake."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from claude_fakes import ANSWER
from cli_helpers import run
from documents_factory import example_invoice, png_invoice
from invoiceai.cli.batch_cmd import EXIT_NOT_FINISHED
from invoiceai.einvoice import to_xml
from invoiceai.testing import FakeClaudeAPI


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeClaudeAPI]:
    fake = FakeClaudeAPI(answer=ANSWER, usage={"input_tokens": 1000, "output_tokens": 200})
    with fake.serve() as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
        yield fake


def comparable(line: str) -> dict[str, object]:
    data = json.loads(line)
    data.pop("timings")
    data["usage"].pop("cost_usd")
    return data


def test_submit_status_collect_list(api: FakeClaudeAPI, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = [tmp_path / "a.png", tmp_path / "b.xml", tmp_path / "c.png"]
    files[0].write_bytes(png_invoice("a"))
    files[1].write_bytes(to_xml(example_invoice(), "cii"))
    files[2].write_bytes(png_invoice("c"))
    cache = ["--cache", str(tmp_path / "cache.db")]
    api.batches.auto_end = False

    code, out, _ = run(["batch", "submit", *map(str, files), "--format", "json", *cache], capsys)
    assert code == 0
    job = json.loads(out)
    assert (job["documents"], job["sent"], job["state"]) == (3, 2, "in_progress")
    code, out, _ = run(["batch", "status", job["id"], "--format", "json", *cache], capsys)
    assert (code, json.loads(out)["state"]) == (0, "in_progress")

    code, out, err = run(["batch", "collect", job["id"], "--no-wait", "--format", "jsonl", *cache], capsys)
    assert code == EXIT_NOT_FINISHED and "1 of 3 documents have results" in err
    assert [json.loads(line)["origin"] for line in out.splitlines()] == ["einvoice"]

    api.batches.end()
    code, out, _ = run(["batch", "collect", job["id"], "--format", "jsonl", *cache], capsys)
    assert code == 0
    collected = out.splitlines()
    code, out, _ = run(["extract", *map(str, files), "--format", "jsonl", "--no-cache", "--quiet"], capsys)
    assert code == 0
    assert [comparable(line) for line in collected] == [comparable(line) for line in out.splitlines()]
    costs = [json.loads(line)["usage"]["cost_usd"] for line in collected]
    assert costs == ["0.0020", "0", "0.0020"]  # half the live $0.004

    code, out, _ = run(["batch", "list", *cache], capsys)
    assert code == 0 and out.startswith(job["id"]) and "ended" in out
    code, out, _ = run(["batch", "submit", str(files[1]), *cache], capsys)
    assert code == 0 and out.strip().startswith("iaib_")


def test_an_unknown_job_is_a_usage_error(
    api: FakeClaudeAPI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["batch", "collect", "iaib_nope", "--cache", str(tmp_path / "c.db")], capsys)
    assert code == 2 and "No batch job 'iaib_nope'" in err
    assert run(["batch"], capsys)[0] == 2
    assert run(["batch", "collect", "x", "--poll", "0"], capsys)[0] == 2


def test_collect_can_send_its_follow_ups_live(
    api: FakeClaudeAPI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from invoiceai.testing import Fault

    path = tmp_path / "a.png"
    path.write_bytes(png_invoice("a"))
    cache = ["--cache", str(tmp_path / "cache.db")]
    api.enqueue(Fault.reply("this is not JSON"))  # the batch answer needs a re-ask
    code, out, _ = run(["batch", "submit", str(path), *cache], capsys)
    assert code == 0
    code, out, _ = run(["batch", "collect", out.strip(), "--follow-up", "live", "--format", "jsonl", *cache], capsys)
    assert code == 0
    (line,) = out.splitlines()
    assert json.loads(line)["usage"]["cost_usd"] == "0.0060"  # $0.002 in the batch, $0.004 for the live re-ask
    assert len(api.message_requests) == 1
