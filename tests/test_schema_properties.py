"""Property tests of the Invoice model and validate(), over the shared strategies."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from invoiceai.schema import Invoice, validate
from invoiceai.schema.tree import NORMALIZATION_RULE, PLACEHOLDER_RULE
from invoiceai.schema.validation import minor_unit
from strategies import (
    any_invoices,
    consistent_invoices,
    money_paths,
    perturbed,
    raw_invoice_dicts,
)

ARITHMETIC_RULES = {"BR-CO-10", "BR-CO-14", "BR-CO-15", "BR-CO-16", "BR-CO-17", "IAI-TAXABLE-SUM", "IAI-LINE-AMOUNT"}


def _decimals_and_dates(value: Any, path: str = "") -> dict[str, str]:
    """Every Decimal and date in a dumped model, as path -> exact str (so 1.10 != 1.1)."""
    found: dict[str, str] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            found.update(_decimals_and_dates(item, f"{path}.{key}"))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.update(_decimals_and_dates(item, f"{path}[{index}]"))
    elif value is not None and not isinstance(value, (str, bool, int)):
        found[path] = f"{type(value).__name__}:{value}"
    return found


@given(consistent_invoices())
def test_json_round_trip_preserves_every_decimal_and_date_exactly(invoice: Invoice) -> None:
    again = Invoice.model_validate_json(invoice.model_dump_json())
    assert again == invoice
    assert _decimals_and_dates(again.model_dump()) == _decimals_and_dates(invoice.model_dump())
    assert again.normalization_findings == []


@given(any_invoices())
def test_json_round_trip_of_arbitrary_invoices(invoice: Invoice) -> None:
    again = Invoice.model_validate_json(invoice.model_dump_json())
    assert _decimals_and_dates(again.model_dump()) == _decimals_and_dates(invoice.model_dump())


@given(consistent_invoices())
def test_validate_finds_nothing_on_consistent_invoices(invoice: Invoice) -> None:
    assert validate(invoice) == []


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=150)
@given(consistent_invoices(), st.data())
def test_validate_flags_every_single_perturbation_of_a_money_field(invoice: Invoice, data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(money_paths(invoice)), label="field")
    units = data.draw(st.integers(1, 10**6).flatmap(lambda k: st.sampled_from([k, -k])), label="units")
    broken = perturbed(invoice, path, units * minor_unit(invoice.currency))

    findings = [finding for finding in validate(broken) if finding.rule in ARITHMETIC_RULES]
    assert findings, f"changing {path} by {units} minor units went unnoticed"
    assert any(path in finding.fields for finding in findings), [str(f) for f in findings]


@given(any_invoices())
def test_validate_never_raises_on_arbitrary_invoices(invoice: Invoice) -> None:
    findings = validate(invoice)
    assert isinstance(findings, list)
    assert all(finding.rule and finding.message for finding in findings)


def test_validate_on_an_invoice_of_nulls_finds_nothing() -> None:
    assert validate(Invoice()) == []


@given(raw_invoice_dicts())
def test_normalisation_never_crashes_on_any_leaf_value(data: dict[str, Any]) -> None:
    invoice = Invoice.model_validate(data)
    for finding in invoice.normalization_findings:
        assert finding.rule in (NORMALIZATION_RULE, PLACEHOLDER_RULE)
        assert finding.fields and finding.fields[0].split(".")[0].split("[")[0] in Invoice.model_fields
    for name in ("subtotal", "total", "tax_total", "amount_due"):
        assert getattr(invoice, name) is None or isinstance(getattr(invoice, name), Decimal)
    assert isinstance(validate(invoice), list)
