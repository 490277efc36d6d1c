"""The review in notebook HTML: the verdict, each page with a box around each value, escaping."""

from __future__ import annotations

import re

import pytest

from invoiceai import Extractor, Settings
from invoiceai.errors import InputError
from invoiceai.testing import FakeBackend
from review_helpers import HOSTILE, TRUTH, page_pdf, provenance_extractor


def _extract(reply: dict[str, object]) -> object:
    with provenance_extractor(reply) as extractor:
        return extractor.extract(page_pdf())


def test_a_result_needing_review_says_so_and_lists_where_each_value_is() -> None:
    page = _extract({**TRUTH, "total": "32.80"})._repr_html_()
    assert "Needs review" in page and "total = &#x27;32.80&#x27; is not printed on its page" in page
    assert "Where each value is printed" in page and "low (review)" in page
    assert "result.show(document)" in page and "iai-box" not in page


def test_show_draws_a_box_for_each_printed_value_on_its_page() -> None:
    result = _extract(TRUTH)
    html = result.show(page_pdf()).html()
    assert "No review needed" in html
    images = re.findall(r'<img src="data:image/(?:png|jpeg);base64,[A-Za-z0-9+/=]+" alt="page 1"', html)
    assert len(images) == 1
    boxes = re.findall(r'<div class="iai-box" data-field="([^"]+)"[^>]*style="([^"]+)"', html)
    placed = {field for field, item in result.provenance.fields.items() if item.box is not None}
    assert {field for field, _ in boxes} == placed and "invoice_number" in placed
    for _, style in boxes:
        left, top, width, height = (float(value) for value in re.findall(r"(?:left|top|width|height):([\d.]+)%", style))
        assert min(left, top) >= 0 and min(width, height) > 0
        assert left + width <= 100.001 and top + height <= 100.001
        assert "position:absolute" in style


def test_flagged_boxes_are_dashed_red() -> None:
    html = _extract({**TRUTH, "total": "32.80"}).show(page_pdf()).html()
    flagged = re.search(r'data-field="total_without_tax"[^>]*style="([^"]+)"', html)
    assert flagged is not None and "3px dashed #cf222e" in flagged.group(1)
    plain = re.search(r'data-field="invoice_number"[^>]*style="([^"]+)"', html)
    assert plain is not None and "2px solid #1a7f37" in plain.group(1)


def test_invoice_text_is_escaped_everywhere() -> None:
    result = _extract({**TRUTH, "seller": {**TRUTH["seller"], "name": HOSTILE}})
    for html in (result._repr_html_(), result.show(page_pdf()).html()):
        assert "<script>" not in html and "<img src=x" not in html
        assert "&lt;script&gt;" in html


def test_show_refuses_another_document() -> None:
    result = _extract(TRUTH)
    with pytest.raises(InputError, match="not the document"):
        result.show(page_pdf(["Another invoice"]))


def test_without_provenance_the_display_is_unchanged() -> None:
    off = Settings.load(provenance=False)
    with Extractor(backend=FakeBackend(default=TRUTH), cache=None, settings=off) as extractor:
        page = extractor.extract(page_pdf())._repr_html_()
    assert "Needs review" not in page and "No review needed" not in page and "iai-box" not in page
