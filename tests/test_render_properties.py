"""Property tests: any image, any budget -> pages within budget, shape kept, only typed errors."""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from invoiceai.documents import Document, detect_media_type
from invoiceai.errors import InvoiceAIError
from invoiceai.pages import API_IMAGE_MEDIA_TYPES, ImageBudget, Page
from invoiceai.render import open_document
from strategies_images import ImageSpec, budgets, corruptions, image_documents

PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def check_page(page: Page, budget: ImageBudget) -> None:
    assert budget.contains(page.width, page.height), (page, budget)
    assert max(page.width, page.height) <= 8000
    assert len(page.data) <= budget.max_bytes
    assert page.media_type in API_IMAGE_MEDIA_TYPES
    assert detect_media_type(page.data) == page.media_type
    with Image.open(io.BytesIO(page.data)) as image:
        assert image.size == (page.width, page.height)
        assert Image.MIME[image.format or ""] == page.media_type


@PROPERTY_SETTINGS
@given(spec=image_documents(), budget=budgets())
def test_any_image_renders_within_any_budget_keeping_its_shape(spec: ImageSpec, budget: ImageBudget) -> None:
    source = open_document(Document.from_bytes(spec.data))
    pages = list(source.render(budget))
    assert len(pages) == spec.frames
    upright_width, upright_height = spec.upright_size
    for page in pages:
        check_page(page, budget)
        # Never upscaled, and both sides scaled alike to within a pixel.
        assert page.width <= upright_width and page.height <= upright_height
        if upright_width >= upright_height:
            scale = page.width / upright_width
            assert abs(page.height - upright_height * scale) <= 1
        else:
            scale = page.height / upright_height
            assert abs(page.width - upright_width * scale) <= 1
        # The page fills the budget (to within a pixel) unless the byte limit forced it down:
        # either it reaches the ideal size, or two more pixels on the long side would not fit.
        if budget.max_bytes >= 200_000:
            ideal = min(1.0, budget.scale_for(upright_width, upright_height))
            long_out, short_out = max(page.width, page.height), min(page.width, page.height)
            reaches_ideal = long_out >= int(max(upright_width, upright_height) * ideal) - 1
            cannot_grow = (long_out + 2) * short_out > budget.max_pixels or long_out + 2 > budget.long_edge
            assert reaches_ideal or cannot_grow


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow's notes on the damage it meets
@PROPERTY_SETTINGS
@given(spec=image_documents(max_side=400), data=st.data())
def test_damaged_images_render_or_raise_typed_errors(spec: ImageSpec, data: st.DataObject) -> None:
    damaged = data.draw(corruptions(spec.data))
    budget = ImageBudget(max_long_edge=512, max_pixels=200_000)
    try:
        document = Document.from_bytes(damaged)
        for page in open_document(document).render(budget):
            check_page(page, budget)
    except InvoiceAIError:
        pass  # typed: acceptable for a damaged file; anything else fails the test
