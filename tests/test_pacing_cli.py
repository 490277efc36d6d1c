"""The command line shows the backend's waits (issue 15: "retry waits are visible") and its pacing."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import pytest

from cli_helpers import isolate_cli
from documents_factory import example_invoice, png_invoice
from invoiceai.backends.claude.pacing import BucketState, PacingSnapshot, WaitEvent
from invoiceai.cli import main
from invoiceai.cli.progress import CliProgress, pacing_summary, shown_wait
from invoiceai.testing import FakeClaudeAPI, Fault, RateLimits, TokenBucket


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_cli(tmp_path, monkeypatch)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def snapshot(waits: int, buckets: tuple[BucketState, ...] = (), rate_limited: int = 0) -> PacingSnapshot:
    return PacingSnapshot(
        mode="headers" if buckets else "adaptive", window=None, in_flight=0, waiting=0, buckets=buckets,
        rate_limited=rate_limited, waits=waits, waited_seconds=2.5 * waits, cooldown=0.0, last_wait=None,
    )  # fmt: skip


def test_a_rate_limited_extract_shows_the_wait_and_sums_up_the_pacing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scan = tmp_path / "scan.png"
    scan.write_bytes(png_invoice())
    limits = RateLimits(requests=TokenBucket(50, 50 / 60), output_tokens=TokenBucket(80_000, 80_000 / 60))
    api = FakeClaudeAPI(answer=example_invoice().model_dump(mode="json"), rate_limits=limits)
    api.enqueue(Fault.rate_limited(retry_after_ms=50))
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with api.serve() as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        assert main(["extract", str(scan), "--model", "claude-haiku-4-5", "--no-cache"]) == 0
    drawn = terminal.getvalue()
    assert re.search(r"\[0/1\]\s+0%.*waiting \d+\.\d s: rate limited", drawn), drawn  # on the progress line
    summary = drawn.rstrip("\n").splitlines()[-1]
    assert summary.startswith("invoiceai: 1 document: 1 succeeded, 0 failed; ")
    assert re.search(r"; waited 1 time, \d+\.\d s in all; 1 rate limited \(429\)", summary), summary
    assert summary.endswith("; limits learned: 50 requests, 80,000 output tokens")


def test_only_waits_worth_showing_are_shown() -> None:
    assert shown_wait(WaitEvent("pacing", "request limit", 0.25)) is None  # routine spacing
    assert shown_wait(WaitEvent("pacing", "output-token limit", 1.5)) == "waiting 1.5 s: output-token limit"
    assert shown_wait(WaitEvent("retry", "connection failed", 0.2)) == "waiting 0.2 s: connection failed"
    assert shown_wait(WaitEvent("cooldown", "rate limited", 8)) == "waiting 8.0 s: rate limited"


def test_a_wait_note_lasts_as_long_as_the_wait() -> None:
    progress = CliProgress(3, _Terminal())
    progress.wait(WaitEvent("retry", "rate limited", 3600))
    assert progress.line().endswith("  waiting 3600 s: rate limited")
    progress.wait(WaitEvent("pacing", "request limit", 0.3))  # not shown: the last one stays
    assert progress.line().endswith("  waiting 3600 s: rate limited")
    progress.wait(WaitEvent("retry", "overloaded", 0.0))  # over as soon as it is shown
    assert "waiting" not in progress.line()


def test_the_summary_has_a_pacing_part_only_when_a_request_waited() -> None:
    assert pacing_summary(snapshot(0, rate_limited=0)) is None
    limits = (BucketState("requests", 50, 12, 50 / 60), BucketState("input-tokens", 40_000, 100, 40_000 / 60))
    assert pacing_summary(snapshot(2, limits, rate_limited=1)) == (
        "waited 2 times, 5.0 s in all; 1 rate limited (429); limits learned: 50 requests, 40,000 input tokens"
    )
    assert pacing_summary(snapshot(1)) == "waited 1 time, 2.5 s in all; 0 rate limited (429)"


@pytest.mark.parametrize("out", ["missing/dir/out.json", "DIRECTORY"])
def test_batch_collect_out_is_checked_before_any_work(
    out: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = str(tmp_path) if out == "DIRECTORY" else str(tmp_path / out)
    assert main(["batch", "collect", "batch-job-id", "--out", target]) == 2
    stdout, err = capsys.readouterr()
    assert stdout == "" and err.count("\n") == 1, err
    assert ("is a directory" if out == "DIRECTORY" else "does not exist") in err
    assert not (tmp_path / "cache").exists()  # no batch store was opened
