"""The command line under stress (review r3): directory loops, Ctrl-C, a missing key, hostile cells.

Each test names the review item it covers (D2-1 ... D2-11).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from cli_helpers import isolate_cli, run
from documents_factory import SAMPLE_FACTURX, example_invoice, png_invoice
from invoiceai.cli.inputs import expand_inputs
from invoiceai.cli.output import ResultWriter
from invoiceai.extractor import Extraction
from invoiceai.usage import Usage

SAMPLE = "examples/sample-facturx.pdf"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_cli(tmp_path, monkeypatch)


# -- D2-1: --recursive and directory links ------------------------------------------------------


def test_d2_1_recursive_does_not_follow_a_link_back_to_a_parent(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    (inbox / "sub").mkdir(parents=True)
    shutil.copy(SAMPLE_FACTURX, inbox / "a.pdf")
    shutil.copy(SAMPLE_FACTURX, inbox / "sub" / "b.pdf")
    (inbox / "sub" / "up").symlink_to("..", target_is_directory=True)  # a loop
    (inbox / "sub" / "again").symlink_to(inbox / "sub", target_is_directory=True)
    (inbox / "link.pdf").symlink_to(inbox / "a.pdf")  # a link to a file is still read
    assert expand_inputs([str(inbox)], recursive=True) == [
        str(inbox / "a.pdf"),
        str(inbox / "link.pdf"),
        str(inbox / "sub" / "b.pdf"),
    ]


def test_d2_1_an_unreadable_subdirectory_is_a_usage_error_before_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox = tmp_path / "inbox"
    (inbox / "locked").mkdir(parents=True)
    shutil.copy(SAMPLE_FACTURX, inbox / "a.pdf")
    real_scandir = os.scandir

    def scandir(path: Any) -> Any:  # chmod 000 does not stop root, so the refusal is simulated
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    code, out, err = run(["extract", str(inbox), "--recursive"], capsys)
    assert (code, out) == (2, "")
    assert err == f"invoiceai: {inbox / 'locked'}: cannot read this directory (permission denied); fix its " \
        "permissions or leave it out.\n"  # fmt: skip


# -- D2-2: --out is replaced at the end; Ctrl-C; the key up front -------------------------------


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_d2_2_ctrl_c_keeps_a_valid_file_with_the_results_so_far(
    fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from invoiceai.cli import report

    out = tmp_path / f"out.{fmt}"
    out.write_text("the previous run's results\n")
    seen: list[str] = []
    real_add = report.Tally.add

    def add(self: report.Tally, result: Any) -> None:
        seen.append(out.read_text())  # the old file stays whole while the run writes
        real_add(self, result)
        if self.documents == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(report.Tally, "add", add)
    code, _, err = run(["extract", SAMPLE, SAMPLE, SAMPLE, "--format", fmt, "--out", str(out)], capsys)
    assert code == 130
    assert seen == ["the previous run's results\n"] * 2
    if fmt == "json":
        assert [result["origin"] for result in json.loads(out.read_text())] == ["einvoice", "einvoice"]
    else:
        rows = list(csv.DictReader(io.StringIO(out.read_text())))
        assert {row["file"] for row in rows} == {SAMPLE} and len(rows) == 2 * 3  # three line items each
    assert "invoiceai: 2 documents: 2 succeeded, 0 failed" in err
    assert err.endswith("invoiceai: interrupted after 2 of 3 documents\n")
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]


def test_d2_2_a_missing_key_is_one_line_before_work_and_keeps_the_old_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scan = tmp_path / "scan.png"
    scan.write_bytes(png_invoice())
    out = tmp_path / "out.json"
    out.write_text("keep me\n")
    code, stdout, err = run(["extract", SAMPLE, str(scan), "--out", str(out)], capsys)
    assert (code, stdout, out.read_text()) == (2, "", "keep me\n")
    assert err.count("\n") == 1 and "No Claude API key: set the ANTHROPIC_API_KEY environment variable" in err
    assert str(scan) in err and "pass api_key" not in err


def test_d2_2_e_invoices_alone_need_no_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    xml = tmp_path / "invoice.xml"
    from invoiceai.einvoice import to_xml

    xml.write_bytes(to_xml(example_invoice(), "cii"))
    code, out, err = run(["extract", SAMPLE, str(xml), "--format", "jsonl", "--quiet"], capsys)
    assert code == 0, err
    assert [json.loads(line)["origin"] for line in out.splitlines()] == ["einvoice", "einvoice"]
    # --no-embedded sends the Factur-X PDF to the model: now it needs the key.
    assert run(["extract", SAMPLE, "--no-embedded", "--quiet"], capsys)[0] == 2
    # --dry-run sends nothing and needs none.
    scan = tmp_path / "scan.png"
    scan.write_bytes(png_invoice())
    assert run(["extract", str(scan), "--dry-run"], capsys)[0] == 0


def test_d2_2_a_run_that_wrote_nothing_leaves_no_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scan = tmp_path / "scan.png"
    scan.write_bytes(png_invoice())
    out = tmp_path / "new.csv"
    assert run(["extract", str(scan), "--format", "csv", "--out", str(out)], capsys)[0] == 2
    assert os.listdir(tmp_path) == ["scan.png"]


# -- D2-6: validate survives hostile JSON -------------------------------------------------------


def test_d2_6_validate_reports_deep_nesting_instead_of_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    code, out, _ = run(["validate", str(deep)], capsys)
    assert code == 1
    assert json.loads(out) == {"file": str(deep), "error": "not invoice JSON: it is nested too deeply to read"}


def test_d2_6_validate_reads_a_file_with_a_byte_order_mark(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with_bom = tmp_path / "bom.json"
    with_bom.write_bytes(b"\xef\xbb\xbf" + example_invoice().model_dump_json().encode())
    code, out, err = run(["validate", str(with_bom)], capsys)
    assert (code, json.loads(out)["ok"]) == (0, True), err


# -- D2-9: CSV formula injection ----------------------------------------------------------------


def test_d2_9_csv_text_cells_that_would_run_as_formulas_are_escaped_numbers_stay() -> None:
    from invoiceai.cli.output import escape_cell

    invoice = example_invoice()
    items = [
        invoice.line_items[0].model_copy(update={"description": '=HYPERLINK("http://x","y")'}),
        invoice.line_items[0].model_copy(update={"description": "-2+3", "amount": invoice.line_items[0].amount * -1}),
    ]
    seller = invoice.seller.model_copy(update={"name": "@SUM(A1:A9)", "phone": "+49 30 1234567"})
    data = invoice.model_copy(update={"line_items": items, "seller": seller})
    result = Extraction(data=data, usage=Usage(), findings=(), origin="model", document_id="d", source="\tx.png")
    for escape in (True, False):
        stream = io.StringIO()
        writer = ResultWriter(stream, "csv", escape_formulas=escape)
        writer.write(result)
        writer.close()
        rows = list(csv.DictReader(io.StringIO(stream.getvalue())))
        cells = [rows[0]["line_items.description"], rows[1]["line_items.description"], rows[0]["seller.name"]]
        cells += [rows[0]["seller.phone"], rows[0]["file"]]
        raw = ['=HYPERLINK("http://x","y")', "-2+3", "@SUM(A1:A9)", "+49 30 1234567", "\tx.png"]
        assert cells == ([f"'{cell}" for cell in raw] if escape else raw)
        assert rows[1]["line_items.amount"].startswith("-") and rows[1]["line_items.amount"][1].isdigit()
    left_alone = ("-12.50", "+3", "1e5", 7, None, "x=1")
    assert [escape_cell(value) for value in left_alone] == list(left_alone)


# -- D2-11: no Python advice left in messages ---------------------------------------------------


@pytest.mark.parametrize(
    ("library", "cli"),
    [
        (
            "Check the network, a proxy, and ANTHROPIC_BASE_URL (or base_url=).",
            "Check the network, a proxy, and ANTHROPIC_BASE_URL.",
        ),
        (
            "URLs; set Settings(allow_private_urls=True) (INVOICEAI_ALLOW_PRIVATE_URLS=1) only if the URL is trusted.",
            "URLs; set INVOICEAI_ALLOW_PRIVATE_URLS=1 only if the URL is trusted.",
        ),
        (
            "Send a smaller image, or raise ImageRenderer(max_image_pixels=...) if it is trusted.",
            "Send a smaller image, or raise INVOICEAI_MAX_IMAGE_PIXELS if it is trusted.",
        ),
        (
            "Raise Settings(max_image_pixels=...) (INVOICEAI_MAX_IMAGE_PIXELS) if the file is trusted.",
            "Raise INVOICEAI_MAX_IMAGE_PIXELS if the file is trusted.",
        ),
    ],
)
def test_d2_11_cli_messages_name_variables_not_python(library: str, cli: str) -> None:
    from invoiceai.cli.hints import cli_message

    assert cli_message(library) == cli
