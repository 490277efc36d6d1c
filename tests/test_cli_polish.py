"""The command line's rough edges (issue 15): validate, usage errors, progress, wording, output, startup.

Each test names the issue's numbered point it covers.
"""

from __future__ import annotations

import csv
import http.server
import io
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from cli_helpers import isolate_cli, run
from documents_factory import SAMPLE_FACTURX, example_invoice, png_invoice
from invoiceai.cli import main
from invoiceai.einvoice import to_xml
from invoiceai.render.pdf import read_embedded_invoice
from invoiceai.schema import validate
from invoiceai.testing import FakeClaudeAPI
from render_fixtures import build_pdf, invoice_page


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_cli(tmp_path, monkeypatch)


SAMPLE = "examples/sample-facturx.pdf"


# -- (3) validate reads what extract writes ---------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_3_validate_reads_what_extract_writes(fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    written = tmp_path / f"results.{fmt}"
    assert run(["extract", SAMPLE, SAMPLE, "--format", fmt, "--out", str(written), "--quiet"], capsys)[0] == 0
    code, out, err = run(["validate", str(written)], capsys)
    reports = [json.loads(line) for line in out.splitlines()]
    assert code == 0, err
    assert [report["ok"] for report in reports] == [True, True]
    assert [report["file"] for report in reports] == [f"{written}[0]", f"{written}[1]"]
    assert {report["source"] for report in reports} == {SAMPLE}


def test_3_validate_reads_one_extract_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    written = tmp_path / "one.jsonl"
    assert run(["extract", SAMPLE, "--format", "jsonl", "--out", str(written), "--quiet"], capsys)[0] == 0
    code, out, _ = run(["validate", str(written)], capsys)
    report = json.loads(out)
    assert (code, report["ok"], report["file"], report["source"]) == (0, True, str(written), SAMPLE)


@pytest.mark.parametrize(
    ("content", "rules"),
    [
        ({}, {"IAI-REQUIRED"}),
        ({"total": "abc"}, {"IAI-REQUIRED", "IAI-NORMALIZE"}),
    ],
)
def test_3_missing_or_unreadable_values_are_problems_not_ok(
    content: dict[str, str], rules: set[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "invoice.json"
    path.write_text(json.dumps(content))
    code, out, _ = run(["validate", str(path)], capsys)
    report = json.loads(out)
    assert (code, report["ok"]) == (1, False)
    assert {finding["rule"] for finding in report["findings"] if finding["severity"] == "error"} == rules
    if "total" in content:
        unreadable = next(f for f in report["findings"] if f["rule"] == "IAI-NORMALIZE")
        assert "'abc'" in unreadable["message"]


def test_3_every_problem_is_reported_in_full(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "invoice.json"
    path.write_text(json.dumps({"seller": 5, "line_items": "x"}))
    code, out, _ = run(["validate", str(path)], capsys)
    error = json.loads(out)["error"]
    assert code == 1
    assert "seller: Input should be a valid dictionary" in error
    assert "line_items: Input should be a valid list" in error


def test_3_a_failed_result_in_extract_output_is_a_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\n% truncated")
    written = tmp_path / "results.json"
    assert run(["extract", SAMPLE, str(broken), "--out", str(written), "--quiet"], capsys)[0] == 1
    code, out, _ = run(["validate", str(written)], capsys)
    reports = [json.loads(line) for line in out.splitlines()]
    assert code == 1
    assert reports[0]["ok"] is True
    assert reports[1]["error"].startswith("the extraction failed: CorruptDocumentError: ")


# -- (4) file-system and argument errors: one line, exit 2, before any work --------------------


@pytest.mark.parametrize("command", [["extract", SAMPLE], ["convert", SAMPLE, "--to", "ubl"]])
@pytest.mark.parametrize("out", ["MISSING_DIRECTORY", "DIRECTORY"])
def test_4_bad_out_is_one_line_exit_2(
    command: list[str], out: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Under tmp_path, not /nonexistent: a directory someone made there would let the write succeed.
    target = str(tmp_path) if out == "DIRECTORY" else str(tmp_path / "missing" / "dir" / "out.json")
    code, stdout, err = run([*command, "--out", target], capsys)
    assert (code, stdout) == (2, "")
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    assert ("is a directory" if out == "DIRECTORY" else "does not exist") in err


def test_4_bad_pages_is_a_usage_error_before_any_file_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["extract", SAMPLE, "--pages", "abc"], capsys)
    assert (code, out, err.count("\n")) == (2, "", 1)
    assert "--pages" in err and "'1-3,7'" in err
    assert run(["convert", SAMPLE, "--to", "cii", "--pages", "3-1"], capsys)[0] == 2


def test_4_a_missing_input_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["extract", SAMPLE, "no/such/file.pdf"], capsys)
    assert (code, out) == (2, "")
    assert err == "invoiceai: no/such/file.pdf: no such file or directory.\n"


# -- (5) the progress line shows from the start --------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_5_progress_is_drawn_before_the_first_document_finishes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["extract", SAMPLE, SAMPLE]) == 0
    drawn = terminal.getvalue()
    assert "[0/2]   0%" in drawn
    assert drawn.index("[0/2]") < drawn.index("[2/2] 100%")
    assert drawn.rstrip("\n").splitlines()[-1].startswith("invoiceai: 2 documents: 2 succeeded")


# -- (8) amounts rounded for messages and display; stored values exact ----------------------------


def test_8_messages_round_long_amounts_and_keep_the_values() -> None:
    invoice = example_invoice()
    invoice.subtotal = Decimal("10.000000000000000000000000000500")
    invoice.total = Decimal("0.6666666666666666666666666667")
    messages = " ".join(finding.message for finding in validate(invoice))
    assert "10.00 " in messages or "10.00)" in messages
    assert "0.6667" in messages
    assert "00000000000" not in messages and "66666" not in messages
    assert invoice.subtotal == Decimal("10.000000000000000000000000000500")


# -- (9) wording and codes ---------------------------------------------------------------------


def test_9_help_states_defaults_and_gives_examples(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--help"], capsys)[1].count("invoiceai extract") >= 2
    _, extract_help, _ = run(["extract", "--help"], capsys)
    assert "examples:" in extract_help
    assert "INVOICEAI_CONCURRENCY or 8" in " ".join(extract_help.split())
    assert "exit status" in extract_help
    _, convert_help, _ = run(["convert", "--help"], capsys)
    assert "OASIS UBL 2.1 XML" in convert_help and "examples:" in convert_help
    _, cache_help, _ = run(["cache", "--help"], capsys)
    assert "show" in cache_help and "examples:" in cache_help


def test_9_cache_show_is_info_and_info_creates_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nonexistent" / "x" / "y.sqlite3"
    code, out, _ = run(["cache", "info", "--cache", str(missing)], capsys)
    assert code == 0
    assert json.loads(out)["entries"] == 0 and json.loads(out)["exists"] is False
    assert not missing.exists() and not missing.parent.exists()
    present = tmp_path / "c.sqlite3"
    assert run(["extract", SAMPLE, "--quiet", "--cache", str(present)], capsys)[0] == 0  # e-invoices: no entry
    code, shown, _ = run(["cache", "show", "--cache", str(present)], capsys)
    assert (code, json.loads(shown)["backend"]) == (0, "sqlite")
    assert "hits" not in json.loads(shown) and "misses" not in json.loads(shown)  # a new process counts none


def test_9_cli_messages_give_cli_advice() -> None:
    from invoiceai.cli.hints import cli_message

    assert "--password" in cli_message("This PDF is password-protected; pass password='...' to open it.")
    assert cli_message("... could not open it: x. Hint: y, or pass cache=None.").endswith("or pass --no-cache.")
    key = cli_message(
        "No Claude API key: set the ANTHROPIC_API_KEY environment variable, "
        "or pass api_key= or client= to ClaudeBackend."
    )
    assert "ClaudeBackend" not in key and "ANTHROPIC_API_KEY" in key


def test_9_an_encrypted_pdf_asks_for_the_password_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    locked = tmp_path / "locked.pdf"
    locked.write_bytes(build_pdf([invoice_page(1)], user_password="pw"))
    code, _, err = run(["extract", str(locked), "--quiet", "--no-cache"], capsys)
    assert code == 1
    assert "--password" in err and "password=" not in err


def test_9_partial_success_is_exit_1_not_the_usage_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A missing key is now found before any work (see test_cli_hardening), so a broken file is
    # the document that fails here.
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\n% truncated in transit")
    scan = tmp_path / "scan.png"
    scan.write_bytes(png_invoice())
    code, out, err = run(["extract", SAMPLE, str(broken), "--format", "jsonl", "--no-cache"], capsys)
    assert code == 1  # one extracted, one broken: partial success, not a usage error
    assert ["error" in json.loads(line) for line in out.splitlines()] == [False, True]
    code_without_key, out, err = run(["extract", SAMPLE, str(scan), "--no-cache"], capsys)
    assert (out, err.count("No Claude API key: set the ANTHROPIC_API_KEY environment variable")) == ("", 1)
    assert code != code_without_key == 2  # nothing done at all


# -- (10) output details -------------------------------------------------------------------------


def test_10_csv_has_no_json_cells_and_csv_tax_has_a_row_per_tax_line(capsys: pytest.CaptureFixture[str]) -> None:
    invoice = read_embedded_invoice(SAMPLE_FACTURX.read_bytes())
    assert invoice is not None
    _, out, _ = run(["extract", SAMPLE, "--format", "csv", "--quiet"], capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == len(invoice.line_items)
    assert not any(cell.startswith(("[", "{")) for row in rows for cell in row.values())
    assert rows[0]["tax_breakdown.2.tax_amount"] == str(invoice.tax_breakdown[1].tax_amount)
    assert rows[0]["origin"] == "einvoice" and rows[0]["cached"] == "false"
    _, out, _ = run(["extract", SAMPLE, "--format", "csv-tax", "--quiet"], capsys)
    taxes = list(csv.DictReader(io.StringIO(out)))
    assert [row["tax_breakdown.rate"] for row in taxes] == [str(line.rate) for line in invoice.tax_breakdown]
    assert {row["invoice_number"] for row in taxes} == {invoice.invoice_number}
    assert not any(column.startswith("line_items") for column in taxes[0])


@pytest.fixture
def served_sample() -> Iterator[str]:
    body = SAMPLE_FACTURX.read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/pdf")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def test_10_a_url_source_is_the_url_without_credentials_or_query(
    served_sample: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INVOICEAI_ALLOW_PRIVATE_URLS", "1")
    base = served_sample.replace("http://", "http://alice:s3cret@")
    code, out, err = run(["extract", f"{base}/in/invoice.pdf?X-Amz-Signature=abc123", "--format", "jsonl"], capsys)
    assert code == 0, err
    assert json.loads(out)["source"] == f"{served_sample}/in/invoice.pdf"
    assert "s3cret" not in out + err and "abc123" not in out + err
    from invoiceai.cli.inputs import shown_source

    assert shown_source("https://[::1]:8443/a.pdf?token=t#frag") == "https://[::1]:8443/a.pdf"


def test_10_a_directory_means_the_invoices_in_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inbox = tmp_path / "inbox"
    (inbox / "2026" / "03").mkdir(parents=True)
    shutil.copy(SAMPLE_FACTURX, inbox / "b.pdf")
    (inbox / "a.xml").write_bytes(to_xml(example_invoice(), "cii"))
    shutil.copy(SAMPLE_FACTURX, inbox / ".hidden.pdf")
    (inbox / "notes.txt").write_text("not an invoice")
    shutil.copy(SAMPLE_FACTURX, inbox / "2026" / "03" / "c.PDF")
    code, out, err = run(["extract", str(inbox), "--format", "jsonl"], capsys)
    assert code == 0, err
    assert [Path(json.loads(line)["source"]).name for line in out.splitlines()] == ["a.xml", "b.pdf"]
    code, out, _ = run(["extract", str(inbox), "--recursive", "--format", "jsonl", "--quiet"], capsys)
    assert [Path(json.loads(line)["source"]).name for line in out.splitlines()] == ["c.PDF", "a.xml", "b.pdf"]
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = run(["extract", str(empty)], capsys)
    assert (code, out, err.count("\n")) == (2, "", 1)
    assert "no invoices" in err


def test_10_summary_line_counts_documents_cache_requests_tokens_and_cost(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    scan = tmp_path / "scan.png"
    scan.write_bytes(png_invoice())
    api = FakeClaudeAPI(
        answer=example_invoice().model_dump(mode="json"), usage={"input_tokens": 1700, "output_tokens": 500}
    )
    with api.serve() as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        _, _, first = run(["extract", str(scan), SAMPLE, "--model", "claude-haiku-4-5"], capsys)
        _, out, again = run(["extract", str(scan), "--model", "claude-haiku-4-5"], capsys)
    summary = first.splitlines()[-1]
    assert summary.startswith("invoiceai: 2 documents: 2 succeeded, 0 failed; 1 from e-invoice, 0 from cache; ")
    assert "; 1 request, 2,200 tokens, $0." in summary
    assert again.splitlines()[-1] == (
        "invoiceai: 1 document: 1 succeeded, 0 failed; 0 from e-invoice, 1 from cache; 0 requests, 0 tokens, $0.0000"
    )
    assert (json.loads(out)[0]["origin"], json.loads(out)[0]["cached"]) == ("model", True)


# -- (issue 16 point 3) startup ----------------------------------------------------------------


_PROBE = """
import json, sys
from invoiceai.cli import main
code = main(sys.argv[1:])
heavy = ("pydantic", "anthropic", "invoiceai.extractor", "PIL", "pypdfium2", "lxml", "httpx2")
loaded = sorted(name for name in sys.modules if name.split(".")[0] in heavy or name.startswith(heavy))
print(json.dumps({"code": code, "loaded": loaded}), file=sys.stderr)
"""


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["extract", "--help"], ["batch", "collect", "--help"]])
def test_help_and_version_import_nothing_heavy(argv: list[str]) -> None:
    process = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, timeout=60, check=False
    )
    report = json.loads(process.stderr.splitlines()[-1])
    assert report == {"code": 0, "loaded": []}
    assert process.stdout.startswith(("usage: invoiceai", "invoiceai "))
