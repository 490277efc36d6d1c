"""The writer's code lists are the official ones, as the shipped CEN stylesheets test them."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from invoiceai.einvoice import codelists


def _lists_in(syntax: str) -> list[frozenset[str]]:
    name = "EN16931-CII-validation.xslt" if syntax == "cii" else "EN16931-UBL-validation.xslt"
    text = (resources.files("invoiceai.einvoice") / "cen_rules" / syntax / name).read_text(encoding="utf-8")
    # Every code-list rule is a test of the form contains(' A B C ', concat(' ', value, ' ')).
    return [frozenset(found.split()) for found in re.findall(r"contains\(\s*'\s([^']+?)\s',", text)]


@pytest.mark.parametrize("name", [name for name in codelists.__all__ if name != "ICD"])
@pytest.mark.parametrize("syntax", ["cii", "ubl"])
def test_each_list_is_one_the_official_rules_use(syntax: str, name: str) -> None:
    assert getattr(codelists, name) in _lists_in(syntax)


def test_the_party_identifier_schemes_are_the_official_ones_plus_ubls_sepa() -> None:
    cii, ubl = _lists_in("cii"), _lists_in("ubl")
    assert codelists.ICD in cii or codelists.ICD - {"SEPA"} in cii
    assert codelists.ICD in ubl or codelists.ICD | {"SEPA"} in ubl
