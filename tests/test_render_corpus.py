"""The shared real-world corpus: robustness files, budgets, and known tricky documents.

Read in place from ../shared/corpus; every test skips with a clear reason when it is absent.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pypdfium2
import pytest
from PIL import Image

from conftest import CORPUS, corpus_params
from invoiceai.documents import Document, detect_media_type, load_document
from invoiceai.errors import (
    CorruptDocumentError,
    EncryptedDocumentError,
    InvoiceAIError,
    WrongPasswordError,
)
from invoiceai.pages import ImageBudget, Page
from invoiceai.render import open_document
from invoiceai.render.pdf.raster import MAX_SCALE

ROOT = Path(__file__).resolve().parent.parent
TIME_LIMIT = 10.0
BUDGETS = {
    "default": ImageBudget(),
    "small": ImageBudget(max_long_edge=800, max_pixels=400_000, max_bytes=150_000),
    "large": ImageBudget(max_long_edge=2576, max_pixels=3_750_000),
}

# Runs in a fresh interpreter, so a file that hangs or crashes pdfium cannot take the test run
# down with it, and the time limit can be enforced by killing the process.
_ROBUSTNESS_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from invoiceai.config import Settings
    from invoiceai.documents import load_document
    from invoiceai.errors import InvoiceAIError
    from invoiceai.pages import ImageBudget
    from invoiceai.render import open_document

    budget = ImageBudget()
    pages = []
    try:
        source = open_document(load_document(sys.argv[1], settings=Settings()))
        source.text_layers()
        source.pdf_bytes()
        for page in source.render(budget):
            pages.append([page.width, page.height, len(page.data), page.media_type])
        print(json.dumps({"outcome": "rendered", "pages": pages}))
    except InvoiceAIError as error:
        print(json.dumps({"outcome": type(error).__name__, "message": str(error), "pages": pages}))
    """
)


def check_page(page: Page, budget: ImageBudget) -> None:
    assert budget.contains(page.width, page.height), page
    assert max(page.width, page.height) <= 8000
    assert len(page.data) <= min(budget.max_bytes, 5 * 1024 * 1024)
    assert detect_media_type(page.data) == page.media_type
    with Image.open(io.BytesIO(page.data)) as image:
        assert image.size == (page.width, page.height)
        assert Image.MIME[image.format or ""] == page.media_type


@pytest.mark.parametrize("path", corpus_params("robustness", "*"))
def test_robustness_files_render_or_raise_typed_errors_within_the_time_limit(path: Path) -> None:
    started = time.monotonic()
    try:
        result = subprocess.run(
            [sys.executable, "-c", _ROBUSTNESS_SCRIPT, str(path)],
            capture_output=True,
            text=True,
            timeout=TIME_LIMIT,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{path.name} took longer than {TIME_LIMIT} s")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, f"untyped failure on {path.name}:\n{result.stderr[-3000:]}"
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert elapsed < TIME_LIMIT
    budget = ImageBudget()
    for width, height, size, media_type in report["pages"]:
        assert budget.contains(width, height)
        assert size <= budget.max_bytes
        assert media_type in ("image/png", "image/jpeg")
    if report["outcome"] != "rendered":
        assert report["outcome"].endswith("Error")
        assert len(report["message"]) > 20  # says what to do, not just a code


@pytest.mark.parametrize("budget_name", sorted(BUDGETS))
@pytest.mark.parametrize(
    "path",
    corpus_params("einvoice/pdf", "*.pdf")
    + corpus_params("invoice2data", "*.pdf", "*.png")
    + corpus_params("misc", "*.pdf")
    + corpus_params("robustness", "*.pdf")
    + corpus_params("scanned", "*/*.jpg", "*/*.jpeg"),
)
def test_every_rendered_corpus_page_is_within_budget(path: Path, budget_name: str) -> None:
    budget = BUDGETS[budget_name]
    try:
        source = open_document(load_document(path))
        for page in source.render(budget):
            check_page(page, budget)
    except InvoiceAIError:
        if "robustness" not in path.parts:
            raise  # only the robustness files may fail, and then only with a typed error


# --- known documents -----------------------------------------------------------------------------------


def corpus_file(relative: str) -> Document:
    path = CORPUS / relative
    if not path.is_file():
        pytest.skip(f"corpus file {relative} is not at {CORPUS}")
    return load_document(path)


@pytest.mark.corpus
@pytest.mark.parametrize(
    ("relative", "passwords"),
    [
        ("robustness/encrypted_aes256_user_view.pdf", ("view", "master")),
        ("robustness/encrypted_password_user_or_owner.pdf", ("user", "owner")),
    ],
)
def test_corpus_passwords(relative: str, passwords: tuple[str, str]) -> None:
    document = corpus_file(relative)
    with pytest.raises(EncryptedDocumentError) as missing:
        open_document(document)
    assert type(missing.value) is EncryptedDocumentError
    with pytest.raises(WrongPasswordError):
        open_document(document, password="not-the-password")
    for password in passwords:
        source = open_document(document, password=password)
        pages = list(source.render(ImageBudget()))
        assert pages
        decrypted = source.pdf_bytes()
        assert decrypted is not None
        reopened = pypdfium2.PdfDocument(decrypted)  # no password needed any more
        assert len(reopened) == len(pages)
        reopened.close()


@pytest.mark.corpus
def test_corpus_rotation_and_boxes() -> None:
    (inherited,) = open_document(corpus_file("robustness/rotate_inherited.pdf")).render(ImageBudget())
    assert inherited.width > inherited.height  # /Rotate 90 on a portrait page
    document = corpus_file("robustness/rotations_mixed_20_pages.pdf")
    pdf = pypdfium2.PdfDocument(document.data)
    rotations = [pdf[index].get_rotation() for index in range(len(pdf))]
    pdf.close()
    pages = list(open_document(document).render(ImageBudget()))
    assert [page.width > page.height for page in pages] == [rotation in (90, 270) for rotation in rotations]
    (boxed, *_) = open_document(corpus_file("robustness/page_boxes.pdf")).render(ImageBudget())
    assert (boxed.width, boxed.height) == ImageBudget().fit(572, 732, allow_upscale=True)  # the CropBox


@pytest.mark.corpus
def test_corpus_extreme_page_sizes() -> None:
    tiny = list(open_document(corpus_file("robustness/tiny_pages_3pt.pdf")).render(ImageBudget()))
    assert len(tiny) == 10
    assert {(page.width, page.height) for page in tiny} == {(int(3 * MAX_SCALE), int(3 * MAX_SCALE))}
    started = time.monotonic()
    (huge,) = open_document(corpus_file("robustness/huge_mediabox_2e31.pdf")).render(ImageBudget())
    assert time.monotonic() - started < 2
    check_page(huge, ImageBudget())


@pytest.mark.corpus
def test_corpus_ocr_sandwich_and_image_only_pdf() -> None:
    (sandwich,) = open_document(corpus_file("robustness/ocr_sandwich.pdf")).render(ImageBudget())
    assert sandwich.text is not None and len(sandwich.text) > 1000
    assert not sandwich.born_digital
    assert sandwich.media_type == "image/jpeg"
    scanned = list(
        open_document(corpus_file("einvoice/pdf/invalidPDF_image_only_with_facturx.pdf")).render(ImageBudget())
    )
    assert len(scanned) == 5
    assert not any(page.born_digital for page in scanned)
    assert {page.media_type for page in scanned} == {"image/jpeg"}


@pytest.mark.parametrize("path", corpus_params("einvoice/pdf", "*.pdf") + corpus_params("invoice2data", "*.pdf"))
def test_corpus_born_digital_invoices(path: Path) -> None:
    if path.name == "invalidPDF_image_only_with_facturx.pdf":
        pytest.skip("image-only by design; covered above")
    source = open_document(load_document(path))
    first = next(iter(source.render(ImageBudget())))
    assert first.born_digital
    assert first.media_type == "image/png"  # text pages are palette PNGs
    layers = source.text_layers()
    assert layers[0] == first.text and first.text is not None and len(first.text) > 100


@pytest.mark.corpus
def test_corpus_damaged_page_is_named() -> None:
    document = corpus_file("robustness/page_tree_loop.pdf")
    pages = open_document(document).render(ImageBudget())
    assert next(pages).index == 0
    with pytest.raises(CorruptDocumentError) as info:
        next(pages)
    assert info.value.page == 2
    assert "pages=" in str(info.value)
    assert len(list(open_document(document, pages="1").render(ImageBudget()))) == 1


@pytest.mark.corpus
def test_corpus_large_scan_is_downscaled() -> None:
    (page,) = open_document(corpus_file("scanned/sroie/288.jpg")).render(ImageBudget())
    assert (page.width, page.height) == ImageBudget().fit(4961, 7016)
    assert page.media_type == "image/jpeg"
