"""tests/conformance.py: the conformance material's instances and the CEN unit-test parser."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from lxml import etree

import conformance
from conformance import parse_cen_unit_file

UBL_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
CBC_NS = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"

UNIT_FILE = """<?xml version="1.0" encoding="UTF-8"?>
<!-- Licensed under European Union Public Licence (EUPL) version 1.2. -->
<testSet xmlns="http://difi.no/xsd/vefa/validator/1.0" configuration="tc434-ubl">
  <assert><scope>BR-X</scope></assert>
  <test id="1">
    <assert>
      <description>Both
        hold</description>
      <success>BR-29</success>
      <success>BR-30</success>
    </assert>
    <Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
             xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
      <cbc:ID>1</cbc:ID>
    </Invoice>
  </test>
  <test>
    <assert><error>BR-CO-15</error></assert>
    <rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"/>
  </test>
  <test>
    <assert><warning>BR-51</warning></assert>
    <Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"/>
  </test>
</testSet>
"""


# --- The CEN unit-test parser (tests/conformance.py) -----------------------------------------------


def test_the_unit_test_parser_gives_one_case_per_expected_outcome(tmp_path: Path) -> None:
    path = tmp_path / "BR-X.xml"
    path.write_text(UNIT_FILE)
    cases = parse_cen_unit_file(path)
    assert [(case.index, case.rule, case.expected) for case in cases] == [
        (0, "BR-29", "success"),
        (0, "BR-30", "success"),
        (1, "BR-CO-15", "error"),
        (2, "BR-51", "warning"),
    ]
    assert cases[0].description == "Both hold"
    assert cases[2].description is None
    assert cases[0].instance == cases[1].instance
    assert cases[0].name == f"{tmp_path.name}/BR-X.xml#0:BR-29:success"


def test_a_unit_case_instance_stands_alone_without_the_test_namespace(tmp_path: Path) -> None:
    path = tmp_path / "BR-X.xml"
    path.write_text(UNIT_FILE)
    first, _, cii, _ = parse_cen_unit_file(path)
    root = etree.fromstring(first.instance)
    assert root.tag == f"{{{UBL_NS}}}Invoice"
    assert root.findtext(f"{{{CBC_NS}}}ID") == "1"
    assert b"difi.no" not in first.instance
    assert b"difi.no" not in cii.instance
    assert first.instance.startswith(b"<?xml")


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("<test><assert><success>BR-1</success></assert></test>", "one <assert> and one instance"),
        ('<test><assert><description>x</description></assert><Invoice xmlns="urn:x"/></test>', "names no rule"),
        ("<test><Invoice/></test>", "one <assert> and one instance"),
    ],
)
def test_the_unit_test_parser_refuses_a_test_it_cannot_read(tmp_path: Path, body: str, problem: str) -> None:
    path = tmp_path / "bad.xml"
    path.write_text(f'<testSet xmlns="http://difi.no/xsd/vefa/validator/1.0">{body}</testSet>')
    with pytest.raises(ValueError, match=problem):
        parse_cen_unit_file(path)


def test_the_unit_test_parser_refuses_what_is_not_a_test_set(tmp_path: Path) -> None:
    path = tmp_path / "invoice.xml"
    path.write_text(f'<Invoice xmlns="{UBL_NS}"/>')
    with pytest.raises(ValueError, match="not a VEFA testSet"):
        parse_cen_unit_file(path)


def test_every_real_cen_unit_test_parses() -> None:
    conformance.require()
    cases = conformance.cen_unit_cases()
    files = {case.file for case in cases}
    # 206 Invoice + 71 CreditNote UBL files and 2 CII files, every one with at least one case.
    assert len(files) == 279
    assert all(case.rule.startswith(("BR-", "UBL-", "CII-")) for case in cases), {case.rule for case in cases}
    expected = Counter(case.expected for case in cases)
    assert expected["error"] > 500
    assert expected["success"] > 500
    assert all(conformance.syntax_of(case.instance) is not None for case in cases)
    br29 = [case for case in cases if case.file.name == "BR-29.xml" and case.index == 0]
    assert {case.rule for case in br29} >= {"BR-29", "BR-30"}


def test_the_instances_cover_both_syntaxes_and_credit_notes() -> None:
    conformance.require()
    found = conformance.instances()
    syntaxes = Counter(instance.syntax for instance in found)
    assert set(syntaxes) == {"cii", "ubl-invoice", "ubl-creditnote"}
    names = {instance.name for instance in found}
    assert "cen/cii/examples/CII_example1.xml" in names
    assert "cen/ubl/examples/BIS3_Invoice_positive.XML" in names  # upper-case suffix counts
    assert any(name.startswith("kosit/business-cases/") for name in names)
    assert any(name.startswith("cen/test/testfiles/") for name in names)
    assert not any("-unit-UBL/" in name for name in names)


def test_case_ids_are_unique() -> None:
    conformance.require()
    names = [case.name for case in conformance.cen_unit_cases()]
    assert len(names) == len(set(names))
