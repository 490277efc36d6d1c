"""``invoiceai.evaluation``: value comparison, row matching, labels, the runner, the report, the CLI."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from documents_factory import SAMPLE_FACTURX, example_invoice, png_invoice
from invoiceai import ConfigurationError, Extractor, Invoice, Settings
from invoiceai.cli import main
from invoiceai.documents.model import document_id_of
from invoiceai.evaluation import (
    EvalSetting,
    best_assignment,
    compare,
    evaluate,
    load_dataset,
    match_rows,
    settings_grid,
)
from invoiceai.evaluation.fields import normalized, same_value
from invoiceai.schema import LineItem
from invoiceai.testing import FakeBackend, FakeCall, FakeClaudeAPI

# -- comparing values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "truth", "predicted", "same"),
    [
        ("money", Decimal("12.5"), Decimal("12.50"), True),
        ("money", Decimal("12.504"), Decimal("12.50"), True),
        ("money", Decimal("12.50"), Decimal("12.51"), False),
        ("money", Decimal("-3.00"), Decimal("3.00"), False),
        ("number", Decimal("19"), Decimal("19.000"), True),
        ("number", Decimal("0.125"), Decimal("0.13"), False),
        ("date", dt.date(2024, 3, 12), dt.date(2024, 3, 12), True),
        ("date", dt.date(2024, 3, 12), dt.date(2024, 12, 3), False),
        ("text", "ACME GmbH.", "acme  gmbh", True),
        ("text", "Hauptstr. 1,\n12345 Berlin", "hauptstr. 1, 12345 berlin", True),
        ("text", "“Quoted” – name", '"quoted" - name', True),
        ("text", "RE-2024/1", "RE 2024 1", False),
        ("text", "Widget", "Widgets", False),
        ("code", "EUR", "eur", True),
        ("code", "EUR", "USD", False),
        ("text", "", None, True),
    ],
)
def test_values_are_compared_by_kind(kind: Any, truth: Any, predicted: Any, same: bool) -> None:
    assert same_value(kind, truth, predicted) is same


def test_unset_and_blank_normalise_to_none() -> None:
    assert normalized("text", "  . ") is None
    assert normalized("money", None) is None


# -- matching rows -------------------------------------------------------------------------------


def test_the_assignment_is_optimal() -> None:
    generator = random.Random(7)
    for _ in range(150):
        rows, columns = generator.randint(1, 5), generator.randint(1, 5)
        scores = [[generator.random() for _ in range(columns)] for _ in range(rows)]
        size = min(rows, columns)
        best = max(
            sum(scores[i][j] for i, j in zip(chosen, order, strict=True))
            for chosen in itertools.combinations(range(rows), size)
            for order in itertools.permutations(range(columns), size)
        )
        pairs = best_assignment(scores)
        assert len({i for i, _ in pairs}) == len({j for _, j in pairs}) == len(pairs) == size
        assert sum(scores[i][j] for i, j in pairs) == pytest.approx(best)


def lines() -> list[LineItem]:
    return [
        LineItem(description="Consulting", quantity=Decimal(10), unit_price=Decimal(100), amount=Decimal(1000)),
        LineItem(description="Travel expenses", quantity=Decimal(1), unit_price=Decimal(250), amount=Decimal(250)),
        LineItem(description="Licence, yearly", quantity=Decimal(2), unit_price=Decimal(99), amount=Decimal(198)),
    ]


def test_rows_match_whatever_their_order() -> None:
    truth = lines()
    assert match_rows(truth, list(reversed(truth))) == [(0, 2), (1, 1), (2, 0)]
    truth_invoice, shuffled = Invoice(line_items=truth), Invoice(line_items=[truth[2], truth[0], truth[1]])
    comparison = compare(truth_invoice, shuffled)
    assert comparison.correct
    assert comparison.rows["line_items"].exact == 3


def test_a_wrong_amount_keeps_its_row_and_is_one_wrong_value() -> None:
    predicted = lines()
    predicted[1] = predicted[1].model_copy(update={"amount": Decimal(260)})
    comparison = compare(Invoice(line_items=lines()), Invoice(line_items=predicted[::-1]))
    assert [(c.path, c.predicted_path, c.status) for c in comparison.errors] == [
        ("line_items[1].amount", "line_items[1].amount", "wrong")
    ]
    assert comparison.rows["line_items"].matched == 3
    assert comparison.rows["line_items"].exact == 2


def test_missing_and_extra_rows() -> None:
    other = LineItem(description="Shipping", amount=Decimal("4.90"))
    comparison = compare(Invoice(line_items=lines()), Invoice(line_items=[lines()[0], other]))
    counts = comparison.rows["line_items"]
    assert (counts.truth, counts.predicted, counts.matched) == (3, 2, 1)
    statuses = {(c.path, c.status) for c in comparison.errors}
    assert ("line_items[1].amount", "missing") in statuses
    assert ("line_items[2].description", "missing") in statuses
    assert ("line_items[1].description", "extra") in statuses  # the extraction's row 1
    assert all(c.predicted_path is None for c in comparison.errors if c.status == "missing")


def test_scalar_statuses_and_field_selection() -> None:
    truth = example_invoice()
    predicted = truth.model_copy(deep=True)
    predicted.total = truth.total + 1  # type: ignore[operator]
    predicted.due_date = None
    predicted.buyer_reference = "PO-1"
    predicted.seller.name = str(truth.seller.name).upper() + "."
    expected_due = "missing" if truth.due_date else None
    comparison = compare(truth, predicted)
    statuses = {c.path: c.status for c in comparison.errors}
    assert statuses.pop("total") == "wrong"
    assert statuses.pop("buyer_reference", "extra") == ("extra" if truth.buyer_reference is None else "wrong")
    assert statuses.pop("due_date", None) == expected_due
    assert statuses == {}
    only_total = compare(truth, predicted, fields=["total"])
    assert [c.path for c in only_total.checks] == ["total"]
    assert compare(truth, predicted, fields=["line_items.*"]).correct


# -- labels --------------------------------------------------------------------------------------


def write_document(folder: Path, name: str, truth: Invoice | None, *, as_result: bool = False) -> Path:
    path = folder / f"{name}.png"
    path.write_bytes(png_invoice(name))
    if truth is not None:
        data = truth.model_dump(mode="json")
        label = {"source": path.name, "origin": "model", "data": data} if as_result else data
        (folder / f"{name}.json").write_text(json.dumps(label), encoding="utf-8")
    return path


def test_labels_json_extract_results_and_embedded_xml(tmp_path: Path) -> None:
    write_document(tmp_path, "a", example_invoice())
    write_document(tmp_path, "b", example_invoice(), as_result=True)
    write_document(tmp_path, "c", None)
    (tmp_path / "d.pdf").write_bytes(SAMPLE_FACTURX.read_bytes())
    dataset = load_dataset([tmp_path])
    assert [(d.name, d.label) for d in dataset.documents] == [
        ("a.png", "json"),
        ("b.png", "json"),
        ("d.pdf", "embedded"),
    ]
    assert dataset.documents[1].truth == example_invoice()
    assert [Path(path).name for path, _ in dataset.skipped] == ["c.png"]
    assert "c.json" in dataset.skipped[0][1]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "cannot read the label"),
        ("[{}]", "is a JSON list"),
        ('{"total": "abc", "line_items": 3}', "line_items"),
    ],
)
def test_a_bad_label_stops_before_any_cost(tmp_path: Path, content: str, message: str) -> None:
    write_document(tmp_path, "a", None)
    (tmp_path / "a.json").write_text(content, encoding="utf-8")
    with pytest.raises(ConfigurationError, match=message):
        load_dataset([tmp_path])


def test_no_labelled_documents_is_a_configuration_error(tmp_path: Path) -> None:
    write_document(tmp_path, "a", None)
    with pytest.raises(ConfigurationError, match="no labelled documents"):
        load_dataset([tmp_path])
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_dataset([tmp_path / "missing"])


# -- the runner and the report -------------------------------------------------------------------


def _fake_extractor(answers: dict[str, Any]) -> Any:
    def build(setting: EvalSetting) -> Extractor:
        backend = FakeBackend(default=lambda call: answers[str(call.document_id)], model=setting.model or "fake-model")
        return Extractor(
            backend=backend, settings=Settings.load(provenance=True, ocr="off"), cache=None, prefer_embedded=False
        )

    return build


@pytest.fixture
def labelled(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """Three labelled scans; the fake model gets one total wrong (flagged: BR-CO-15) and one name wrong."""
    answers: dict[str, Any] = {}
    for name in ("a", "b", "c"):
        truth = example_invoice()
        truth.invoice_number = f"INV-{name}"
        path = write_document(tmp_path, name, truth)
        answer = truth.model_copy(deep=True)
        if name == "b":
            answer.total = truth.total + 5  # type: ignore[operator]  # breaks BR-CO-15: a finding names it
        if name == "c":
            answer.buyer.name = "Someone Else Ltd"  # nothing can tell
        answers[document_id_of(path.read_bytes())] = answer
    return tmp_path, answers


def test_evaluate_counts_wrong_and_unflagged_values(labelled: tuple[Path, dict[str, Any]]) -> None:
    folder, answers = labelled
    report = evaluate(load_dataset([folder]), [EvalSetting()], extractor=_fake_extractor(answers))
    (result,) = report.results
    summary = result.summary
    assert (summary.documents, summary.fully_correct, summary.failed) == (3, 1, 0)
    assert (summary.values.errors, summary.values.unflagged) == (2, 1)
    assert summary.needs_review == 1
    assert summary.unreviewed_errors == 1  # document c went through with a wrong name
    assert result.fields["total"].wrong == result.fields["total"].unflagged + 1 == 1
    assert (result.fields["buyer.name"].wrong, result.fields["buyer.name"].unflagged) == (1, 1)
    data = report.to_dict()["settings"][0]
    assert [[e["path"] for e in d["errors"]] for d in data["documents"]] == [[], ["total"], ["buyer.name"]]
    assert [e["flagged"] for d in data["documents"] for e in d["errors"]] == [True, False]
    assert data["summary"]["unflagged_errors"] == 1
    assert data["rows"]["line_items"]["f1"] == 1.0
    table = report.table()
    assert "wrong values not flagged            1 of 2" in table
    assert "NOT FLAGGED" in table


def test_settings_are_compared_side_by_side(labelled: tuple[Path, dict[str, Any]]) -> None:
    folder, answers = labelled
    grid = settings_grid(["model-a", "model-b"], ["standard", "high"])
    assert [s.name for s in grid] == ["model-a standard", "model-a high", "model-b standard", "model-b high"]
    settings = settings_grid(["model-a", "model-b"])  # FakeBackend has no detail levels; the CLI test has
    report = evaluate(load_dataset([folder]), settings, extractor=_fake_extractor(answers))
    assert [r.setting.name for r in report.results] == [s.name for s in settings]
    header = report.table().splitlines()[2]
    assert all(s.name in header for s in settings)


def test_the_html_report_is_self_contained_and_escaped(labelled: tuple[Path, dict[str, Any]]) -> None:
    folder, answers = labelled
    for answer in answers.values():
        answer.notes = "<script>alert(1)</script>"
    page = evaluate(load_dataset([folder]), extractor=_fake_extractor(answers)).html()
    assert page.startswith("<!doctype html>")
    assert "<script" not in page and "&lt;script&gt;" in page
    assert "http" not in page.replace('name="viewport"', "")  # nothing fetched


def test_an_extractor_that_answers_from_embedded_xml_is_refused(tmp_path: Path) -> None:
    (tmp_path / "d.pdf").write_bytes(SAMPLE_FACTURX.read_bytes())
    with pytest.raises(ConfigurationError, match="prefer_embedded=False"):
        evaluate(load_dataset([tmp_path]), extractor=lambda s: Extractor(backend=FakeBackend(), cache=None))


def test_a_failed_extraction_is_counted_not_raised(labelled: tuple[Path, dict[str, Any]]) -> None:
    folder, answers = labelled
    from invoiceai import RateLimitError

    first = next(iter(answers))
    answers[first] = RateLimitError("slow down")

    def answer(call: FakeCall) -> Any:
        return answers[str(call.document_id)]

    def build(setting: EvalSetting) -> Extractor:
        return Extractor(backend=FakeBackend(default=answer), cache=None, prefer_embedded=False)

    report = evaluate(load_dataset([folder]), extractor=build)
    summary = report.results[0].summary
    assert (summary.failed, summary.documents) == (1, 3)
    assert "RateLimitError" in report.table()


# -- the command line ----------------------------------------------------------------------------


def test_cli_usage_and_label_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(tmp_path), "--detail", "huge"]) == 2
    assert "unknown detail" in capsys.readouterr().err
    write_document(tmp_path, "a", None)
    assert main(["eval", str(tmp_path)]) == 2
    assert "no labelled documents" in capsys.readouterr().err
    (tmp_path / "a.json").write_text("[]", encoding="utf-8")
    assert main(["eval", str(tmp_path)]) == 2
    assert "a.json" in capsys.readouterr().err


def test_cli_compares_models_and_details_through_a_loopback_fake(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("a", "b"):
        write_document(tmp_path, name, example_invoice())
    monkeypatch.setenv("INVOICEAI_OCR", "off")
    api = FakeClaudeAPI(answer=example_invoice().model_dump(mode="json"))
    with api.serve() as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        argv = ["eval", str(tmp_path), "--models", "claude-haiku-4-5,claude-sonnet-5", "--detail", "standard,high"]
        code = main([*argv, "--quiet", "--html", str(tmp_path / "r.html")])
        out = capsys.readouterr().out
        strict = main([*argv, "--quiet", "--fields", "total", "--fail-under", "100", "--format", "json"])
    assert code == 0
    header = out.splitlines()[2]
    for name in (
        "claude-haiku-4-5 standard",
        "claude-haiku-4-5 high",
        "claude-sonnet-5 standard",
        "claude-sonnet-5 high",
    ):
        assert name in header
    assert out.splitlines()[3].split()[3:] == ["2/2", "100.0", "%"] * 4
    assert {request.body["model"] for request in api.message_requests} == {"claude-haiku-4-5", "claude-sonnet-5"}
    assert len(api.message_requests) == 2 * 8  # no cache: every document read under every setting
    report = json.loads(capsys.readouterr().out)
    assert strict == 0
    assert [s["summary"]["values_checked"] for s in report["settings"]] == [2] * 4
    assert Decimal(report["settings"][0]["summary"]["cost_usd"]) > 0
