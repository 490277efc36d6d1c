"""The command line: golden outputs, exit codes, the missing-key message, the Claude path."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cli_helpers import run
from documents_factory import ROOT, SAMPLE_FACTURX, example_invoice, png_invoice
from invoiceai.einvoice import read_einvoice, to_xml
from invoiceai.render.pdf import read_embedded_invoice
from invoiceai.testing import FakeClaudeAPI

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("INVOICEAI_UPDATE_GOLDEN") == "1"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("INVOICEAI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(ROOT)  # golden outputs hold paths relative to the project root


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.7\n% truncated in transit")
    return path


def without_timings(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for result in results:
        result.pop("timings", None)
    return results


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8"), f"{name} differs; INVOICEAI_UPDATE_GOLDEN=1 rewrites it"


def test_extract_json_golden(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOICEAI_PROVENANCE", "0")  # the golden file is the output without provenance
    code, out, err = run(["extract", "examples/sample-facturx.pdf", "--quiet"], capsys)
    assert code == 0, err
    results = without_timings(json.loads(out))
    check_golden("extract.json", json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    assert results[0]["origin"] == "einvoice"
    assert results[0]["data"]["total"] == "2952.10"


def test_extract_jsonl_golden_with_a_failure(
    capsys: pytest.CaptureFixture[str], broken: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INVOICEAI_PROVENANCE", "0")  # the golden file is the output without provenance
    code, out, err = run(["extract", "examples/sample-facturx.pdf", str(broken), "--format", "jsonl"], capsys)
    assert code == 1
    lines = [json.loads(line) for line in out.splitlines()]
    assert [("error" in line) for line in lines] == [False, True]
    lines[1]["source"] = "broken.pdf"
    check_golden(
        "extract.jsonl", "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in without_timings(lines))
    )
    assert err.count("\n") == 2  # the failure, then the summary line
    assert "broken.pdf: CorruptDocumentError" in err.splitlines()[0]
    assert err.splitlines()[1].startswith("invoiceai: 2 documents: 1 succeeded, 1 failed; 1 from e-invoice")
    assert "Traceback" not in err


def test_extract_csv_golden_one_row_per_line_item(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["extract", "examples/sample-facturx.pdf", "--format", "csv"], capsys)
    assert code == 0
    check_golden("extract.csv", out)
    rows = list(csv.DictReader(io.StringIO(out)))
    invoice = read_embedded_invoice(SAMPLE_FACTURX.read_bytes())
    assert invoice is not None
    assert len(rows) == len(invoice.line_items) > 1
    assert {row["invoice_number"] for row in rows} == {invoice.invoice_number}  # header repeated
    assert [row["line_items.description"] for row in rows] == [line.description for line in invoice.line_items]


def test_extract_writes_to_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    xml = tmp_path / "invoice.xml"
    xml.write_bytes(to_xml(example_invoice(), "cii"))
    target = tmp_path / "out.jsonl"
    code, out, _ = run(["extract", str(xml), "--format", "jsonl", "--out", str(target)], capsys)
    assert (code, out) == (0, "")
    assert json.loads(target.read_text())["data"]["invoice_number"] == "INV-2026-0042"


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["extract"], capsys)[0] == 2
    assert run(["extract", "x.pdf", "--format", "xml"], capsys)[0] == 2
    assert run(["extract", "x.pdf", "--concurrency", "0"], capsys)[0] == 2
    assert run(["frobnicate"], capsys)[0] == 2
    assert run(["--help"], capsys)[0] == 0


def test_missing_api_key_is_one_line_naming_the_variable(tmp_path: Path) -> None:
    image = tmp_path / "scan.png"
    image.write_bytes(png_invoice())
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANTHROPIC_")}
    process = subprocess.run(
        [sys.executable, "-m", "invoiceai", "extract", str(image), "--no-cache", "--quiet"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert process.returncode == 2
    assert process.stderr.count("\n") == 1
    assert "ANTHROPIC_API_KEY" in process.stderr
    assert "Traceback" not in process.stderr


def test_extract_through_claude_with_a_loopback_fake(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    image = tmp_path / "scan.png"
    image.write_bytes(png_invoice())
    api = FakeClaudeAPI(
        answer=example_invoice().model_dump(mode="json"), usage={"input_tokens": 1700, "output_tokens": 500}
    )
    with api.serve() as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        code, out, err = run(["extract", str(image), "--format", "jsonl", "--model", "claude-haiku-4-5"], capsys)
        _, cached, _ = run(["extract", str(image), "--format", "jsonl", "--model", "claude-haiku-4-5"], capsys)
        _, other_model, _ = run(["extract", str(image), "--format", "jsonl"], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["origin"] == "model"
    assert result["data"]["total"] == "562.04"
    assert result["usage"]["input_tokens"] == 1700
    assert (json.loads(cached)["origin"], json.loads(cached)["cached"]) == ("model", True)  # was "cache"
    assert json.loads(cached)["usage"]["requests"] == 0
    assert json.loads(other_model)["origin"] == "model"  # another model: another cache key
    assert len(api.message_requests) == 2
    assert {request.body["model"] for request in api.message_requests} == {"claude-haiku-4-5", "claude-sonnet-5"}
    assert "sk-ant-test-key" not in out + err


def test_convert_writes_valid_einvoices(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(
        ["convert", "examples/sample-facturx.pdf", "--to", "ubl", "--out", str(tmp_path / "a.xml")], capsys
    )
    assert code == 0, err
    assert read_einvoice((tmp_path / "a.xml").read_bytes()) == read_embedded_invoice(SAMPLE_FACTURX.read_bytes())
    image = tmp_path / "page.png"
    image.write_bytes(png_invoice())
    xml = tmp_path / "in.xml"
    xml.write_bytes(to_xml(example_invoice(), "cii"))
    target = tmp_path / "out.pdf"
    code, _, err = run(["convert", str(xml), "--to", "facturx", "--pdf", str(image), "--out", str(target)], capsys)
    assert code == 0, err
    assert read_embedded_invoice(target.read_bytes()) == read_einvoice(xml.read_bytes())
    code, _, err = run(["convert", str(xml), "--to", "facturx", "--out", str(target)], capsys)
    assert code == 2
    assert "--pdf" in err


def test_convert_refuses_an_inconsistent_invoice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    invoice = example_invoice()
    invoice.total = invoice.total + 1  # type: ignore[operator]
    xml = tmp_path / "bad.xml"
    xml.write_bytes(to_xml(invoice, "cii", force=True))  # an inconsistent file, on purpose
    code, out, err = run(["convert", str(xml), "--to", "ubl"], capsys)
    assert (code, out) == (1, "")
    assert "BR-CO-15" in err
    assert run(["convert", str(xml), "--to", "ubl", "--force"], capsys)[0] == 0


def test_validate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["validate", "examples/invoice.json"], capsys)
    assert (code, json.loads(out)["ok"]) == (0, True)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"subtotal": "10", "tax_total": "1.90", "total": "12.00"}))
    code, out, _err = run(["validate", str(bad)], capsys)
    assert code == 1
    assert json.loads(out)["findings"][0]["rule"] == "BR-CO-15"


def test_cache_info_and_clear(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    image = tmp_path / "scan.png"
    image.write_bytes(png_invoice())
    with FakeClaudeAPI(answer=example_invoice().model_dump(mode="json")).serve() as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        assert run(["extract", str(image)], capsys)[0] == 0
    code, out, _ = run(["cache", "info"], capsys)
    info = json.loads(out)
    assert (code, info["backend"], info["entries"]) == (0, "sqlite", 1)
    assert str(tmp_path / "cache") in info["location"]
    code, out, _ = run(["cache", "clear"], capsys)
    assert (code, json.loads(out)["cleared"], json.loads(out)["entries"]) == (0, 1, 0)


def test_python_dash_m_runs_the_same_cli() -> None:
    process = subprocess.run(
        [sys.executable, "-m", "invoiceai", "--version"], capture_output=True, text=True, check=True, timeout=60
    )
    assert process.stdout.startswith("invoiceai ")
