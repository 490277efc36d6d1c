"""The PDF renderer, on PDFs the tests generate (corpus files are in test_render_corpus.py)."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from typing import Any

import pypdfium2
import pytest
from PIL import Image, ImageChops

import invoiceai.render.pdf.renderer as pdf_module
from invoiceai import Settings
from invoiceai.documents import Document, detect_media_type
from invoiceai.errors import (
    ConfigurationError,
    CorruptDocumentError,
    EncryptedDocumentError,
    PageSelectionError,
    WrongPasswordError,
)
from invoiceai.pages import ImageBudget, Page
from invoiceai.render import ImageRenderer, PdfPageSource, PdfRenderer, open_document
from invoiceai.render.pdf.raster import MAX_SCALE
from render_fixtures import (
    PdfPage,
    XForm,
    XImage,
    build_pdf,
    corner_mark_page,
    invoice_page,
    photo_jpeg,
    scanned_page,
)

BUDGET = ImageBudget()
# Tests that patch pdfium calls in this process must render here, not in a sandbox worker.
IN_PROCESS_SETTINGS = Settings.load(render_memory_limit=0)


def open_pdf(pdf_pages: list[PdfPage], **options: Any) -> PdfPageSource:
    source = open_document(Document.from_bytes(build_pdf(pdf_pages, **options.pop("build", {}))), **options)
    assert isinstance(source, PdfPageSource)
    return source


def decoded(page: Page) -> Image.Image:
    image = Image.open(io.BytesIO(page.data))
    image.load()
    return image


def assert_valid(page: Page, budget: ImageBudget = BUDGET) -> None:
    assert budget.contains(page.width, page.height)
    assert len(page.data) <= budget.max_bytes
    assert detect_media_type(page.data) == page.media_type
    assert decoded(page).size == (page.width, page.height)


def dark_quadrants(page: Page) -> set[str]:
    image = decoded(page).convert("L")
    width, height = image.size
    boxes = {
        "top-left": (0, 0, width // 2, height // 2),
        "top-right": (width // 2, 0, width, height // 2),
        "bottom-left": (0, height // 2, width // 2, height),
        "bottom-right": (width // 2, height // 2, width, height),
    }
    return {name for name, box in boxes.items() if image.crop(box).getextrema()[0] < 64}  # type: ignore[index, operator]


def test_pages_are_rendered_straight_to_the_budget() -> None:
    source = open_pdf([invoice_page(1), invoice_page(2)])
    pages = list(source.render(BUDGET))
    assert [page.index for page in pages] == [0, 1]
    expected = BUDGET.fit(612, 792, allow_upscale=True)
    for page in pages:
        assert_valid(page)
        assert (page.width, page.height) == expected
        assert page.scale == pytest.approx(expected[0] / 612)


def test_text_pages_are_small_greyscale_pngs_with_their_text() -> None:
    (page,) = open_pdf([invoice_page(7)]).render(BUDGET)
    assert page.media_type == "image/png"
    assert page.born_digital
    assert page.text is not None and "Invoice INV-0007" in page.text and "Total due: 123.45 EUR" in page.text
    image = decoded(page)
    assert image.mode in ("L", "P") and image.convert("RGB").convert("L").convert("RGB") == image.convert("RGB")
    assert len(page.data) < 30_000


def test_colour_survives_on_colour_pages() -> None:
    (page,) = open_pdf([invoice_page(colour=True)]).render(BUDGET)
    red, green, _ = decoded(page).convert("RGB").split()
    assert ImageChops.difference(red, green).getextrema()[1] > 200  # type: ignore[index, operator]


def test_scans_are_jpeg_and_not_born_digital() -> None:
    (page,) = open_pdf([scanned_page()]).render(BUDGET)
    assert page.media_type == "image/jpeg"
    assert not page.born_digital
    assert page.text is None
    assert_valid(page)


def test_an_invisible_ocr_layer_is_text_but_not_born_digital() -> None:
    (page,) = open_pdf([scanned_page(ocr_text=["Invoice 42", "Total 9.99"])]).render(BUDGET)
    assert page.text is not None and "Invoice 42" in page.text
    assert not page.born_digital
    assert page.media_type == "image/jpeg"


def test_image_coverage_counts_images_inside_scaled_forms() -> None:
    jpeg = photo_jpeg(200, 240)
    # The form draws a small image, but the page shows the form ten times larger: a full-page scan.
    form = XForm("q 50 0 0 60 0 0 cm /Im0 Do Q", (0, 0, 60, 70), {"Im0": XImage(jpeg, 200, 240)})
    big = PdfPage(content="q 10 0 0 10 20 30 cm /Fm0 Do Q", forms={"Fm0": form})
    # And the other way round: a large image inside a form shown at a tenth is only a logo.
    logo_form = XForm("q 500 0 0 600 0 0 cm /Im0 Do Q", (0, 0, 600, 700), {"Im0": XImage(jpeg, 200, 240)})
    small = PdfPage(content="q 0.1 0 0 0.1 20 30 cm /Fm0 Do Q\n0 0 0 rg 100 400 200 4 re f", forms={"Fm0": logo_form})
    pages = list(open_pdf([big, small]).render(BUDGET))
    assert [page.media_type for page in pages] == ["image/jpeg", "image/png"]


@pytest.mark.parametrize(
    ("rotate", "inherited", "corner", "landscape"),
    [
        (None, None, "top-left", False),
        (90, None, "top-right", True),
        (180, None, "bottom-right", False),
        (270, None, "bottom-left", True),
        (None, 90, "top-right", True),
        (90, 270, "top-right", True),  # the page's own /Rotate wins over the inherited one
    ],
)
def test_rotate_is_honoured(rotate: int | None, inherited: int | None, corner: str, landscape: bool) -> None:
    source = open_pdf([corner_mark_page(rotate=rotate)], build={"inherited_rotate": inherited})
    (page,) = source.render(BUDGET)
    assert dark_quadrants(page) == {corner}
    assert (page.width > page.height) is landscape


def test_tiny_pages_are_capped_and_huge_pages_fit() -> None:
    # 14,400 units is the largest page the PDF format allows (a 5 m receipt roll).
    tiny, huge = open_pdf([PdfPage(width=3, height=3), PdfPage(width=595, height=14_400)]).render(BUDGET)
    assert tiny.width == int(3 * MAX_SCALE)
    assert tiny.scale == pytest.approx(tiny.width / 3)
    assert_valid(huge)
    assert (huge.width, huge.height) == (595 * BUDGET.long_edge // 14_400, BUDGET.long_edge)


def test_passwords() -> None:
    data = build_pdf([invoice_page()], user_password="user-pw", owner_password="owner-pw")
    document = Document.from_bytes(data)
    with pytest.raises(EncryptedDocumentError, match="password=") as missing:
        open_document(document)
    assert type(missing.value) is EncryptedDocumentError
    with pytest.raises(WrongPasswordError, match="case-sensitive"):
        open_document(document, password="User-pw")
    for password in ("user-pw", "owner-pw"):
        (page,) = open_document(document, password=password).render(BUDGET)
        assert page.text is not None and "INV-0001" in page.text


def test_pdf_bytes_returns_the_original_or_a_decrypted_subset() -> None:
    plain = open_pdf([invoice_page(1), invoice_page(2), invoice_page(3)])
    assert plain.pdf_bytes() is plain.document.data
    subset = open_pdf([invoice_page(1), invoice_page(2), invoice_page(3)], pages="1,3").pdf_bytes()
    encrypted = Document.from_bytes(build_pdf([invoice_page(1), invoice_page(2)], user_password="pw"))
    decrypted = open_document(encrypted, password="pw").pdf_bytes()
    assert decrypted is not None and decrypted != encrypted.data
    for data, pages in ((subset, ["INV-0001", "INV-0003"]), (decrypted, ["INV-0001", "INV-0002"])):
        assert data is not None
        reopened = pypdfium2.PdfDocument(data)  # opens without a password
        texts = [reopened[index].get_textpage().get_text_range() for index in range(len(reopened))]
        assert [next(label for label in pages if label in text) for text in texts] == pages
        reopened.close()


def test_page_selection_and_text_layers_without_rendering(monkeypatch: pytest.MonkeyPatch) -> None:
    # In this process, where the patch below can see whether pages are rasterised.
    source = open_pdf([invoice_page(number) for number in range(1, 6)], pages="2-3,5", settings=IN_PROCESS_SETTINGS)
    assert source.page_count == 3
    assert source.page_numbers == (2, 3, 5)

    def no_rendering(*args: object, **kwargs: object) -> None:
        raise AssertionError("text_layers() must not rasterise")

    monkeypatch.setattr(pdf_module, "rasterise", no_rendering)
    layers = source.text_layers()
    assert [("INV-0002" in text, "INV-0003" in text, "INV-0005" in text) for text in layers if text] == [
        (True, False, False),
        (False, True, False),
        (False, False, True),
    ]
    with pytest.raises(PageSelectionError, match="only 5 pages"):
        open_pdf([invoice_page(number) for number in range(1, 6)], pages="6")


def test_rendering_is_lazy(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = pdf_module.rasterise

    def counting(pdf: Any, index: int, *args: Any, **kwargs: Any) -> Any:
        calls.append(index)
        return real(pdf, index, *args, **kwargs)

    monkeypatch.setattr(pdf_module, "rasterise", counting)
    source = open_pdf([invoice_page(number) for number in range(1, 41)], settings=IN_PROCESS_SETTINGS)
    pages = source.render(BUDGET)
    first = next(pages)
    assert first.index == 0
    assert len(calls) <= 2  # the page asked for, and at most one rendered ahead
    pages.close()  # abandoning the iterator releases the document and the helper thread
    assert len(calls) <= 2


def test_a_smaller_budget_can_be_asked_for_again() -> None:
    source = open_pdf([invoice_page(), scanned_page()])
    small = ImageBudget(max_long_edge=700, max_pixels=300_000, max_bytes=60_000)
    for budget in (BUDGET, small, BUDGET.capped(1000)):
        for page in source.render(budget):
            assert_valid(page, budget)


def test_tight_byte_budgets_are_met_by_lowering_quality_then_size() -> None:
    budget = ImageBudget(max_bytes=15_000)
    (page,) = open_pdf([scanned_page()]).render(budget)
    assert_valid(page, budget)
    assert page.scale < BUDGET.fit(612, 792, allow_upscale=True)[0] / 612


def test_process_pool_gives_the_same_pages_as_one_process() -> None:
    document = Document.from_bytes(build_pdf([invoice_page(number, colour=number % 2 == 0) for number in range(1, 5)]))
    serial = list(PdfRenderer().open(document).render(BUDGET))
    pooled_source = PdfRenderer(processes=2, min_pages_for_processes=2).open(document, pages="1-4")
    assert pooled_source.processes == 2
    assert PdfRenderer(processes=2, min_pages_for_processes=5).open(document).processes == 0
    pooled = list(pooled_source.render(BUDGET))
    assert [(page.index, page.width, page.media_type, page.text, page.data) for page in pooled] == [
        (page.index, page.width, page.media_type, page.text, page.data) for page in serial
    ]


def test_concurrent_rendering_from_threads_is_safe() -> None:
    documents = [Document.from_bytes(build_pdf([invoice_page(number, colour=True)] * 3)) for number in range(4)]
    expected = [[page.data for page in open_document(document).render(BUDGET)] for document in documents]
    results: dict[int, list[bytes]] = {}

    def work(position: int) -> None:
        results[position] = [page.data for page in open_document(documents[position]).render(BUDGET)]

    threads = [threading.Thread(target=work, args=(position,)) for position in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert [results[position] for position in range(4)] == expected


def test_damaged_pdfs_are_corrupt_document_errors() -> None:
    data = build_pdf([invoice_page()])
    for damaged in (data[: len(data) // 3], b"%PDF-1.7\n" + b"\x00garbage" * 50):
        with pytest.raises(CorruptDocumentError, match="cannot be read"):
            open_document(Document.from_bytes(damaged))


def test_renderers_reject_bad_options() -> None:
    make: Callable[..., object] = PdfRenderer
    with pytest.raises(ConfigurationError, match="processes"):
        make(processes=-1)
    with pytest.raises(ConfigurationError, match="min_pages_for_processes"):
        make(min_pages_for_processes=0)
    make = ImageRenderer
    with pytest.raises(ConfigurationError, match="max_frames=0"):
        make(max_frames=0)


def test_a_password_that_is_not_valid_text_is_a_typed_error() -> None:
    # On POSIX, a command-line argument that is not valid UTF-8 reaches Python with lone
    # surrogates (surrogateescape); pypdfium2 cannot encode it and raised UnicodeEncodeError.
    encrypted = Document.from_bytes(build_pdf([invoice_page()], user_password="pw"))
    with pytest.raises(WrongPasswordError, match="cannot be encoded"):
        open_document(encrypted, password="p\udcffw")
    # Unencrypted PDFs ignore passwords, whatever they hold.
    (page,) = open_document(Document.from_bytes(build_pdf([invoice_page()])), password="\ud800").render(BUDGET)
    assert_valid(page)
