"""The official CEN EN 16931 rules: ``validate_xml``, ``invoiceai validate --xml``, and the CEN unit tests."""

from __future__ import annotations

import concurrent.futures
import hashlib
import importlib.util
import json
import re
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

import conformance
import invoiceai.einvoice
from documents_factory import SAMPLE_FACTURX, example_invoice
from invoiceai.cli import main
from invoiceai.einvoice import to_xml
from invoiceai.errors import (
    CorruptDocumentError,
    EInvoiceError,
    HostileXMLError,
    MissingDependencyError,
    NotAnInvoiceError,
    UnsupportedFormatError,
)

UBL_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"

# --- validate_xml: the official rules ---------------------------------------------------------------

CII_NS = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
CREDIT_NOTE_NS = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
SVRL = "{http://purl.oclc.org/dsdl/svrl}"
EXAMPLES = {
    "cii": "cen/cii/examples/CII_example1.xml",
    "ubl-invoice": "cen/ubl/examples/ubl-tc434-example1.xml",
    "ubl-creditnote": "cen/ubl/examples/ubl-tc434-creditnote1.xml",
}
# Where the official stylesheets disagree with a CEN unit test's stated outcome: none in release
# 1.3.16 (checked with saxonche 12.5.0 and 13.1.1). A case listed here is skipped with its reason.
KNOWN_DISAGREEMENTS: dict[str, str] = {}

needs_saxon = pytest.mark.skipif(
    importlib.util.find_spec("saxonche") is None, reason='saxonche is not installed: pip install ".[en16931]"'
)


def example(syntax: str) -> bytes:
    return (conformance.require() / EXAMPLES[syntax]).read_bytes()


def raw_svrl(xml: bytes, syntax: str) -> list[tuple[str, str, str, str]]:
    """The failed assertions as saxonche reports them on the unparsed bytes, without validate_xml's code."""
    from saxonche import PySaxonProcessor

    stylesheet = conformance.require() / "en16931-validation" / syntax / f"EN16931-{syntax.upper()}-validation.xslt"
    processor = PySaxonProcessor(license=False)
    executable = processor.new_xslt30_processor().compile_stylesheet(stylesheet_file=str(stylesheet))
    report = etree.fromstring(
        executable.transform_to_string(xdm_node=processor.parse_xml(xml_text=xml.decode("utf-8"))).encode()
    )
    return [
        (
            str(node.get("id")),
            str(node.get("flag")),
            " ".join(node.findtext(f"{SVRL}text", "").split()),
            str(node.get("location")),
        )
        for node in report.iter(f"{SVRL}failed-assert")
    ]


def broken_ubl() -> bytes:
    """The CEN UBL example with a tax-exclusive total (BT-109) one unit too high."""
    xml = example("ubl-invoice")
    total = re.search(rb'<cbc:TaxExclusiveAmount currencyID="EUR">([0-9.]+)<', xml)
    assert total
    wrong = str(Decimal(total.group(1).decode()) + 1).encode()
    return xml.replace(total.group(0), total.group(0).replace(total.group(1), wrong))


@needs_saxon
@pytest.mark.parametrize("syntax", ["cii", "ubl-invoice", "ubl-creditnote"])
def test_validate_xml_agrees_with_the_raw_svrl(syntax: str) -> None:
    from invoiceai.einvoice import validate_xml

    xml = example(syntax)
    for variant in (xml, broken_ubl()) if syntax == "ubl-invoice" else (xml,):
        raw = raw_svrl(variant, syntax.split("-")[0])
        findings = validate_xml(variant)
        assert [(f.rule, f.severity, f.fields) for f in findings] == [
            (rule, {"fatal": "error", "warning": "warning"}[flag], (location,)) for rule, flag, _, location in raw
        ]
        for finding, (rule, _, text, _) in zip(findings, raw, strict=True):
            # The message is the rule's text without the "[BR-xx]-" that repeats the id.
            assert text.endswith(finding.message), (rule, text, finding.message)
            assert rule not in finding.message


@needs_saxon
def test_the_examples_pass_and_a_wrong_total_fires_br_co_13_and_15() -> None:
    from invoiceai.einvoice import validate_xml

    for syntax in EXAMPLES:
        assert not [f for f in validate_xml(example(syntax)) if f.severity == "error"], syntax
    errors = {f.rule: f for f in validate_xml(broken_ubl()) if f.severity == "error"}
    assert set(errors) == {"BR-CO-13", "BR-CO-15"}
    assert "BT-109" in errors["BR-CO-13"].message
    assert (
        errors["BR-CO-13"]
        .fields[0]
        .endswith(
            "LegalMonetaryTotal[namespace-uri()='urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2'][1]"
        )
    )


@needs_saxon
def test_a_wrong_cii_total_fires_br_co_15() -> None:
    from invoiceai.einvoice import to_xml, validate_xml

    invoice = example_invoice()
    assert [f for f in validate_xml(to_xml(invoice, "cii")) if f.severity == "error"] == []
    invoice.total = invoice.total + 1  # type: ignore[operator]
    errors = {f.rule for f in validate_xml(to_xml(invoice, "cii", force=True)) if f.severity == "error"}
    assert "BR-CO-15" in errors


@needs_saxon
@pytest.mark.parametrize(
    ("document", "root"),
    [
        (f'<rsm:CrossIndustryInvoice xmlns:rsm="{CII_NS}"/>', "CrossIndustryInvoice"),
        (f'<Invoice xmlns="{UBL_NS}"/>', "Invoice"),
        (f'<CreditNote xmlns="{CREDIT_NOTE_NS}"/>', "CreditNote"),
    ],
)
def test_each_syntax_runs_its_own_rules(document: str, root: str) -> None:
    from invoiceai.einvoice import validate_xml

    findings = validate_xml(document.encode())
    assert "BR-01" in {f.rule for f in findings}  # no specification identifier (BT-24)
    assert all(f.fields[0].startswith(f"/*:{root}[") for f in findings)
    prefix = "CII-" if root == "CrossIndustryInvoice" else "UBL-"
    other = "UBL-" if prefix == "CII-" else "CII-"
    assert not any(f.rule.startswith(other) for f in findings)


@needs_saxon
@pytest.mark.parametrize(
    ("document", "error"),
    [
        ('<rsm:CrossIndustryDocument xmlns:rsm="urn:ferd:CrossIndustryDocument:invoice:1p0"/>', UnsupportedFormatError),
        ('<FatturaElettronica xmlns="http://ivaservizi.agenziaentrate.gov.it"/>', UnsupportedFormatError),
        ('<Order xmlns="urn:oasis:names:specification:ubl:schema:xsd:Order-2"/>', NotAnInvoiceError),
        ("<Invoice", CorruptDocumentError),
    ],
)
def test_what_the_rules_do_not_cover_is_refused(document: str, error: type[Exception]) -> None:
    from invoiceai.einvoice import validate_xml

    with pytest.raises(error):
        validate_xml(document.encode())


def test_an_unknown_rule_set_is_refused() -> None:
    from invoiceai.einvoice import validate_xml

    with pytest.raises(EInvoiceError, match="Unknown rule set 'xrechnung'"):
        validate_xml(f'<Invoice xmlns="{UBL_NS}"/>'.encode(), rules="xrechnung")


def _no_saxonche(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry makes `import saxonche` raise ImportError, as when it is not installed.
    monkeypatch.setitem(sys.modules, "saxonche", None)


def test_without_saxonche_validate_xml_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from invoiceai.einvoice import validate_xml

    _no_saxonche(monkeypatch)
    with pytest.raises(MissingDependencyError, match=r'pip install "invoiceai-claude\[en16931\]"') as raised:
        validate_xml(f'<Invoice xmlns="{UBL_NS}"/>'.encode())
    assert raised.value.extra == "en16931"


HOSTILE = {
    "xxe": f'<?xml version="1.0"?><!DOCTYPE Invoice [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    f'<Invoice xmlns="{UBL_NS}"><Note>&x;</Note></Invoice>'.encode(),
    "billion-laughs": (
        b'<?xml version="1.0"?><!DOCTYPE Invoice [<!ENTITY a "aaaaaaaaaa">'
        + b"".join(
            f'<!ENTITY {c} "{("&" + p + ";") * 10}">'.encode() for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        )
        + f']><Invoice xmlns="{UBL_NS}"><Note>&i;</Note></Invoice>'.encode()
    ),
    "external-dtd": f'<!DOCTYPE Invoice SYSTEM "http://127.0.0.1:9/x.dtd"><Invoice xmlns="{UBL_NS}"/>'.encode(),
}
HUGE = {
    "deep": f'<Invoice xmlns="{UBL_NS}">'.encode() + b"<a>" * 5000 + b"</a>" * 5000 + b"</Invoice>",
    "text-node": f'<Invoice xmlns="{UBL_NS}"><Note>'.encode() + b"A" * 11_000_000 + b"</Note></Invoice>",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_xml_is_refused_before_saxon(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    from invoiceai.einvoice import validate_xml

    # With saxonche made unimportable, reaching Saxon at all would raise MissingDependencyError.
    _no_saxonche(monkeypatch)
    with pytest.raises(HostileXMLError):
        validate_xml(HOSTILE[name])


@pytest.mark.parametrize("name", sorted(HUGE))
def test_huge_xml_is_refused_before_saxon(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    from invoiceai.einvoice import validate_xml

    _no_saxonche(monkeypatch)
    with pytest.raises(CorruptDocumentError, match="XML_PARSE_HUGE"):
        validate_xml(HUGE[name])


def test_importing_the_package_loads_no_saxonche() -> None:
    code = (
        "import sys, invoiceai, invoiceai.einvoice; invoiceai.einvoice.validate_xml; print('saxonche' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@needs_saxon
def test_threads_share_the_compiled_rules_safely() -> None:
    from invoiceai.einvoice import validate_xml

    documents = [example("cii"), broken_ubl(), example("ubl-creditnote")] * 2
    expected = [validate_xml(document) for document in documents]
    start = threading.Barrier(len(documents))

    def check(document: bytes) -> list[object]:
        start.wait()  # all threads enter validate_xml together
        return list(validate_xml(document))

    with concurrent.futures.ThreadPoolExecutor(len(documents)) as pool:
        assert list(pool.map(check, documents)) == expected


def test_the_shipped_rules_are_the_official_release_unmodified() -> None:
    from invoiceai.einvoice.official import EN16931_RULES_RELEASE

    shipped = Path(invoiceai.einvoice.__file__).parent / "cen_rules"
    assert (shipped / "VERSION").read_text().strip() == EN16931_RULES_RELEASE
    assert "EUROPEAN UNION PUBLIC LICENCE v. 1.2" in (shipped / "LICENSE.txt").read_text()
    assert "b6c9e06a59812fb1a83585da40923b3678a649ad" in (shipped / "README.md").read_text()
    for syntax in ("cii", "ubl"):
        stylesheet = shipped / syntax / f"EN16931-{syntax.upper()}-validation.xslt"
        assert f"Schematron version {EN16931_RULES_RELEASE} ".encode() in stylesheet.read_bytes()[:1000]
        if conformance.available():
            official = conformance.CONFORMANCE / "en16931-validation" / syntax / stylesheet.name
            assert hashlib.sha256(stylesheet.read_bytes()).digest() == hashlib.sha256(official.read_bytes()).digest()


@needs_saxon
def test_official_errors_is_memoised_on_the_content() -> None:
    xml = broken_ubl()
    first = conformance.official_errors(xml)
    assert first == {"BR-CO-13", "BR-CO-15"}
    assert conformance.official_errors(bytes(xml)) is first


# --- Every CEN unit test: the harness against the official outcomes --------------------------------


@needs_saxon
@pytest.mark.parametrize("case", conformance.cen_unit_params())
def test_the_official_rules_give_each_cen_unit_test_its_stated_outcome(case: conformance.CenCase) -> None:
    from invoiceai.einvoice import validate_xml

    if case.name in KNOWN_DISAGREEMENTS:
        pytest.skip(KNOWN_DISAGREEMENTS[case.name])
    findings = validate_xml(case.instance)
    fired = {f.rule for f in findings if f.severity == "error"}
    warned = {f.rule for f in findings if f.severity == "warning"}
    if case.expected == "error":
        assert case.rule in fired, (case.description, sorted(fired))
    elif case.expected == "warning":
        assert case.rule in warned, (case.description, sorted(warned))
    else:
        assert case.rule not in fired | warned, case.description


# --- The command line ---------------------------------------------------------------------------------


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@needs_saxon
def test_validate_xml_command_prints_text_and_fails_on_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.xml"
    good.write_bytes(to_xml(example_invoice(), "ubl"))
    bad = tmp_path / "bad.xml"
    bad.write_bytes(broken_ubl_from_example())
    code, out, err = cli(["validate", "--xml", str(good)], capsys)
    assert (code, out, err) == (0, f"{good}: ok\n", "")
    code, out, _ = cli(["validate", "--xml", str(good), str(bad)], capsys)
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == f"{good}: ok"
    assert lines[1] == f"{bad}: FAILED (1 error)"
    assert lines[2].startswith("  [error] BR-CO-15: Invoice total amount with VAT (BT-112) = ")
    assert lines[2].endswith(" at /*:Invoice[1]")


@needs_saxon
@pytest.mark.allow_stderr
def test_validate_xml_command_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_bytes(broken_ubl_from_example())
    notxml = tmp_path / "invoice.json"
    notxml.write_text("{}")
    code, out, err = cli(["validate", "--xml", "--format", "json", str(bad), str(notxml), str(SAMPLE_FACTURX)], capsys)
    assert code == 1
    reports = [json.loads(line) for line in out.splitlines()]
    assert [report.get("ok") for report in reports] == [False, None, True]
    assert reports[0]["findings"][0]["rule"] == "BR-CO-15"
    assert reports[0]["findings"][0]["fields"] == [
        "/*:Invoice[namespace-uri()='urn:oasis:names:specification:ubl:schema:xsd:Invoice-2'][1]"
    ]
    assert reports[1]["error"].startswith("CorruptDocumentError: ")
    assert "BR-CO-15" in err


@pytest.mark.allow_stderr
def test_validate_xml_command_without_saxonche_is_a_setup_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_saxonche(monkeypatch)
    good = tmp_path / "good.xml"
    good.write_bytes(to_xml(example_invoice(), "cii"))
    code, out, err = cli(["validate", "--xml", str(good)], capsys)
    assert (code, out) == (2, "")
    assert 'pip install "invoiceai-claude[en16931]"' in err


def broken_ubl_from_example() -> bytes:
    """The project's example invoice as UBL, with a total (BT-112) one unit too high: BR-CO-15 only."""
    invoice = example_invoice()
    invoice.total = invoice.total + 1  # type: ignore[operator]
    invoice.amount_due = invoice.total
    return to_xml(invoice, "ubl", force=True)  # to_xml refuses BR-CO-15 unless forced


# --- The docs ---------------------------------------------------------------------------------------


@needs_saxon
def test_the_docs_example_runs(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    page = (conformance.ROOT / "docs" / "einvoice.md").read_text()
    section = page.split("## Checking with the official rules", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks
    monkeypatch.chdir(conformance.ROOT)
    for number, block in enumerate(blocks, start=1):
        exec(compile(block, f"docs/einvoice.md (official rules, example {number})", "exec"), {})
    printed = capsys.readouterr().out
    shown = re.findall(r"```text\n(.*?)```", section, re.S)
    assert printed == shown[0]  # the page shows exactly what the example prints
