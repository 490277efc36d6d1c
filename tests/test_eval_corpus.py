"""Acceptance of issue 14 point 5: ``invoiceai eval`` on the corpus e-invoice PDFs, fake model.

The e-invoice PDFs are their own labels (the embedded XML is the truth). The command runs
end to end, through the real Claude backend, against a loopback fake Messages API
(``ANTHROPIC_BASE_URL``), as the other CLI tests do. The fake answers each request with the
truth of the document it is about, found by the page text the request carries (``--mode text``),
(a) as is, and (b) with errors seeded into chosen fields; the report must say 100 % for (a) and
list exactly the seeded fields, document by document, for (b).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from conftest import CORPUS, CORPUS_SKIP_REASON
from invoiceai.cli import main
from invoiceai.documents import load_document
from invoiceai.evaluation import load_dataset
from invoiceai.render import open_document
from invoiceai.testing import FakeClaudeAPI, RecordedRequest

PDF_DIR = CORPUS / "einvoice" / "pdf"
_PAGE_TEXT = re.compile(r'<page_text page="\d+">\n(.*)\n</page_text>', re.S)

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not PDF_DIR.is_dir(), reason=CORPUS_SKIP_REASON),
]


def _key(text: str) -> str:
    return "".join(character for character in text if character.isalnum())[:400]


def _request_key(request: RecordedRequest) -> str:
    for text in request.texts():
        found = _PAGE_TEXT.search(text)
        if found:
            return _key(found.group(1).replace("<\\/page_text", "</page_text"))
    return ""  # no page has text: the one image-only document


def _document_key(path: Path) -> str:
    source = open_document(load_document(path))
    try:
        texts = source.text_layers()
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()
    first = next((text.strip() for text in texts if text and text.strip()), "")
    return _key(first)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], dict[str, str]]:
    """A folder of the labelled e-invoice PDFs whose page text tells them apart; their truths by key."""
    folder = tmp_path_factory.mktemp("einvoices")
    dataset = load_dataset([PDF_DIR])
    by_key: dict[str, Any] = {}
    names: dict[str, str] = {}
    for document in dataset.documents:
        key = _document_key(document.path)
        if key in by_key:  # two PDFs showing the same page: keep the first (the fake could not tell them apart)
            continue
        by_key[key] = document.truth
        names[document.name] = key
        (folder / document.name).symlink_to(document.path)
    assert len(names) >= 20, names
    return folder, by_key, names


def run_eval(argv: list[str], api: FakeClaudeAPI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    monkeypatch.setenv("INVOICEAI_OCR", "off")
    monkeypatch.setenv("INVOICEAI_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "report.json"
    with api.serve() as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        code = main(["eval", *argv, "--mode", "text", "--format", "json", "--out", str(out), "--quiet"])
    assert code == 0
    report: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return report


def test_eval_reports_100_percent_when_the_model_returns_the_truth(
    corpus: tuple[Path, dict[str, Any], dict[str, str]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder, by_key, names = corpus
    api = FakeClaudeAPI(answer=lambda request: by_key[_request_key(request)].model_dump(mode="json"))
    html = tmp_path / "report.html"
    report = run_eval([str(folder), "--html", str(html)], api, monkeypatch, tmp_path)
    (setting,) = report["settings"]
    summary = setting["summary"]
    assert summary["documents"] == len(names)
    assert (summary["failed"], summary["fully_correct"], summary["fully_correct_rate"]) == (0, len(names), 1.0)
    assert summary["value_accuracy"] == 1.0
    assert summary["values_checked"] > 20 * len(names)
    assert (summary["value_errors"], summary["unflagged_errors"]) == (0, 0)
    assert setting["rows"]["line_items"]["f1"] == 1.0
    assert setting["rows"]["line_items"]["exact_f1"] == 1.0
    assert all(document["errors"] == [] for document in setting["documents"])
    assert len(api.message_requests) >= len(names)
    assert "invoiceai eval" in html.read_text(encoding="utf-8")


def _seed(truth: Any, position: int) -> tuple[dict[str, Any], set[str]]:
    """The truth with up to four values changed; returns it as the model's JSON and the changed paths."""
    wrong = truth.model_copy(deep=True)
    seeded: set[str] = set()
    if wrong.total is not None:
        wrong.total += Decimal("1.00")
        seeded.add("total")
    if position % 2 == 0 and wrong.issue_date is not None:
        wrong.issue_date += dt.timedelta(days=1)
        seeded.add("issue_date")
    if position % 3 == 0 and wrong.seller.name:
        wrong.seller.name = wrong.seller.name + " Holding"
        seeded.add("seller.name")
    unique = [
        index
        for index, line in enumerate(truth.line_items)
        if line.amount is not None and sum(other == line for other in truth.line_items) == 1
    ]
    if unique and position % 2 == 1:
        wrong.line_items[unique[-1]].amount += Decimal("10.00")
        seeded.add(f"line_items[{unique[-1]}].amount")
    if position % 4 == 1 and wrong.currency is not None:
        wrong.currency = "USD" if wrong.currency != "USD" else "EUR"
        seeded.add("currency")
    return wrong.model_dump(mode="json"), seeded


def test_eval_reports_exactly_the_seeded_errors(
    corpus: tuple[Path, dict[str, Any], dict[str, str]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder, by_key, names = corpus
    answers: dict[str, dict[str, Any]] = {}
    expected: dict[str, set[str]] = {}
    for position, (name, key) in enumerate(sorted(names.items())):
        answers[key], expected[name] = _seed(by_key[key], position)
    assert sum(len(paths) for paths in expected.values()) > 2 * len(names)
    api = FakeClaudeAPI(answer=lambda request: answers[_request_key(request)])
    report = run_eval([str(folder)], api, monkeypatch, tmp_path)
    (setting,) = report["settings"]
    reported = {
        Path(document["source"]).name: {error["path"] for error in document["errors"]}
        for document in setting["documents"]
    }
    assert reported == expected
    for document in setting["documents"]:
        assert all(error["status"] == "wrong" for error in document["errors"]), document["errors"]
    summary = setting["summary"]
    assert summary["value_errors"] == sum(len(paths) for paths in expected.values())
    assert summary["fully_correct"] == sum(not paths for paths in expected.values())
    by_field = setting["fields"]
    assert by_field["total"]["wrong"] == sum("total" in paths for paths in expected.values())
    assert by_field["line_items.amount"]["wrong"] == sum(
        any(path.startswith("line_items[") for path in paths) for paths in expected.values()
    )
    flagged = sum(error["flagged"] for document in setting["documents"] for error in document["errors"])
    assert summary["unflagged_errors"] == summary["value_errors"] - flagged
