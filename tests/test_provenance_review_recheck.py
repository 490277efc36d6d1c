"""A recheck after corrections of whole items and lists: no stale provenance, no stale confirm, no stale finding."""

from __future__ import annotations

import copy
from typing import Any

from invoiceai import Invoice
from invoiceai.provenance import Provenance, ground_invoice, review
from invoiceai.provenance.recheck import recheck
from invoiceai.schema.validation import validate
from invoiceai.server.review_check import rechecked
from test_provenance import layer
from test_provenance_review import BASE, PAGE

NEW = {"description": "New", "quantity": "1", "unit_price": "777.00", "amount": "777.00"}


def first(data: dict[str, Any]) -> tuple[Invoice, Any, list[Any]]:
    invoice = Invoice.model_validate(data)
    grounded = ground_invoice(invoice, [layer(*PAGE)], validate(invoice))
    return invoice, grounded.provenance, [*validate(invoice), *grounded.findings]


def test_a_correction_of_a_whole_item_settles_every_value_under_it() -> None:
    before, provenance, findings = first(BASE)
    lines = [{"description": "Wrong thing", "quantity": "3", "unit_price": "99.00", "amount": "297.00"},
             BASE["line_items"][1]]  # fmt: skip
    after = Invoice.model_validate({**BASE, "line_items": lines})
    again = recheck(after, before, provenance, findings, {"line_items[0]": "correct"})
    for name, value in (("amount", "297.00"), ("unit_price", "99.00"), ("description", "Wrong thing")):
        item = again.provenance[f"line_items[0].{name}"]
        assert (item.value, item.grounding, item.doubt, item.box) == (value, "confirmed", "corrected by a person", None)


def test_a_changed_value_nobody_settled_keeps_no_old_provenance() -> None:
    before, provenance, findings = first(BASE)
    after = Invoice.model_validate({**BASE, "line_items": [BASE["line_items"][0], NEW]})
    item = recheck(after, before, provenance, findings, {}).provenance["line_items[1].amount"]
    assert (item.value, item.grounding, item.box) == ("777.00", "unknown", None)
    assert recheck(before, before, provenance, findings, {}).provenance["line_items[1].amount"].grounding == "grounded"


def test_findings_about_values_that_are_gone_are_dropped() -> None:
    lines = [*BASE["line_items"], {"description": "Ghost", "quantity": "1", "unit_price": "3.00", "amount": "3.00"}]
    before, provenance, findings = first({**BASE, "line_items": lines})
    assert any("line_items[2].description" in finding.fields for finding in findings)
    after = Invoice.model_validate(BASE)
    again = recheck(after, before, provenance, findings, {"line_items": "correct"})
    assert not [finding for finding in again.findings if any("line_items[2]" in field for field in finding.fields)]
    assert again.provenance["line_items[1].amount"].grounding == "confirmed"


def stored(data: dict[str, Any]) -> dict[str, Any]:
    _, provenance, findings = first(data)
    verdict = review(provenance, findings)
    return {"data": Invoice.model_validate(data).model_dump(mode="json"), "provenance": provenance.to_dict(),
            "findings": [finding.model_dump(mode="json") for finding in findings], "review": verdict.to_dict(),
            "corrections": []}  # fmt: skip


def test_a_confirm_counts_only_while_the_value_it_confirmed_is_there() -> None:
    result = stored(BASE)
    before = copy.deepcopy(result["data"])
    lines = Invoice.model_validate({"line_items": [BASE["line_items"][0], NEW]}).model_dump(mode="json")["line_items"]
    result["data"]["line_items"] = lines
    result["corrections"] = [
        {"field": "line_items[1].amount", "action": "confirm", "new_value": "5.00"},
        {"field": "line_items", "action": "correct", "new_value": lines},
    ]
    out = Provenance.from_dict(rechecked(Invoice, result, before)["provenance"])
    # The 5.00 confirmed then is gone: 777.00 is the list's correction, and no box shows where 5.00 was printed.
    amount = out["line_items[1].amount"]
    assert (amount.value, amount.grounding, amount.doubt) == ("777.00", "confirmed", "corrected by a person")
    assert amount.box is None
