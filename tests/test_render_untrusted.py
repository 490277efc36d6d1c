"""Untrusted PDFs and images: attachment caps, typed errors from the attachment scan, no library noise."""

from __future__ import annotations

import contextlib
import logging
import threading
import warnings

import pytest

import hostile_files as hostile
from invoiceai.documents import Document
from invoiceai.errors import AttachmentTooLargeError, DocumentTooLargeError, EInvoiceError, InvoiceAIError
from invoiceai.pages import ImageBudget
from invoiceai.render import PdfRenderer, open_document
from invoiceai.render.limits import RenderLimits
from invoiceai.render.noise import LOGGER_NAME, library_noise
from invoiceai.render.pdf import find_embedded_invoice

MIB = 1024 * 1024
PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"


def test_an_attachment_above_its_cap_is_a_typed_einvoice_error_and_the_pages_still_render() -> None:
    pdf = hostile.flate_bomb_attachment_pdf(2 * MIB)
    limits = RenderLimits(max_attachment_bytes=MIB)
    with pytest.raises(AttachmentTooLargeError, match="max_attachment_bytes") as caught:
        find_embedded_invoice(pdf, limits=limits)
    error = caught.value
    assert isinstance(error, EInvoiceError)  # the extractor skips the attachment with a warning
    assert isinstance(error, DocumentTooLargeError)
    assert (error.setting, error.limit) == ("max_attachment_bytes", MIB)
    assert error.found is not None
    assert error.found > MIB
    with PdfRenderer(limits=limits).open(Document.from_bytes(pdf)) as source:
        with pytest.raises(AttachmentTooLargeError):
            source.embedded_einvoice()
        assert len(list(source.render(ImageBudget()))) == 1


def test_an_attachment_bomb_past_the_stream_cap_is_stopped_before_pdfium_reads_it() -> None:
    pdf = hostile.flate_bomb_attachment_pdf(8 * MIB)
    with pytest.raises(DocumentTooLargeError, match="max_stream_bytes"):
        find_embedded_invoice(pdf, limits=RenderLimits(max_stream_bytes=MIB))


def test_a_name_tree_entry_that_is_not_a_file_is_skipped_not_a_pdfium_error() -> None:
    pdf = hostile.write_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [(factur-x.xml) 4 0 R] >> >> >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            PAGE,
            b"42",
        ]
    )
    assert find_embedded_invoice(pdf) is None
    with open_document(Document.from_bytes(pdf)) as source:
        assert source.embedded_einvoice() is None


def test_a_deep_dictionary_in_the_attachment_fallback_is_typed_or_none() -> None:
    nested = b"<< /A " * 100_000 + b"1" + b" >>" * 100_000
    pdf = hostile.write_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R /AF [4 0 R] >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            PAGE,
            b"<< /Type /Filespec /F (factur-x.xml) /EF << /F 5 0 R >> /Deep " + nested + b" >>",
            b"<< /Type /EmbeddedFile /Length 3 >>\nstream\n<a/\nendstream",
        ]
    )
    with contextlib.suppress(InvoiceAIError):
        assert find_embedded_invoice(pdf) is None


# --- noise --------------------------------------------------------------------------------------


def truncated_pdf_with_attachment_marker() -> bytes:
    catalog = b"<< /Type /Catalog /Pages 2 0 R /AF [] >>"
    pdf = hostile.write_pdf([catalog, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", PAGE])
    return pdf.replace(b"%%EOF", b"")  # pypdf logs "EOF marker not found"


def test_pypdf_log_lines_go_to_our_logger_at_debug_with_the_name(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    assert find_embedded_invoice(truncated_pdf_with_attachment_marker(), name="upload-17.pdf") is None
    ours = [record for record in caplog.records if record.name == LOGGER_NAME]
    assert any("upload-17.pdf" in record.getMessage() and "EOF marker" in record.getMessage() for record in ours)
    assert all(record.levelno == logging.DEBUG for record in ours)
    assert not [record for record in caplog.records if record.name.startswith("pypdf")]
    assert capfd.readouterr().err == ""


@pytest.mark.allow_stderr  # the test logs as a user's own pypdf call would
def test_outside_our_calls_pypdf_logs_as_before(caplog: pytest.LogCaptureFixture) -> None:
    with library_noise("ours.pdf"):
        pass
    logging.getLogger("pypdf._reader").warning("the user's own pypdf call")
    assert [record.name for record in caplog.records] == ["pypdf._reader"]


def test_warnings_inside_our_calls_are_logged_and_outside_shown(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        with library_noise("scan.tiff"):
            warnings.warn("Corrupt EXIF data", UserWarning, stacklevel=1)
        warnings.warn("the user's own warning", UserWarning, stacklevel=1)
    assert [str(warning.message) for warning in shown] == ["the user's own warning"]
    assert [record.getMessage() for record in caplog.records] == ["scan.tiff: UserWarning: Corrupt EXIF data"]


@pytest.mark.allow_stderr  # the test logs as a user's own pypdf call would
def test_the_document_name_belongs_to_one_thread(caplog: pytest.LogCaptureFixture) -> None:
    import pypdf  # pypdf's loggers exist once pypdf is imported

    assert pypdf.__name__ == "pypdf"
    caplog.set_level(logging.DEBUG)
    inside, logged = threading.Event(), threading.Event()

    def other_thread() -> None:
        inside.wait()
        logging.getLogger("pypdf._reader").warning("another thread's own pypdf call")
        logged.set()

    thread = threading.Thread(target=other_thread)
    thread.start()
    with library_noise("mine.pdf"):
        inside.set()
        logged.wait()
        logging.getLogger("pypdf._reader").warning("inside our call")
    thread.join()
    by_logger = sorted((record.name, record.getMessage()) for record in caplog.records)
    assert by_logger == [
        (LOGGER_NAME, "mine.pdf: pypdf: inside our call"),
        ("pypdf._reader", "another thread's own pypdf call"),
    ]


def test_decoding_an_image_leaves_another_threads_warning_settings_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import threading
    import warnings

    from PIL import Image

    from invoiceai.render import image_decode

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PNG")
    inside, release = threading.Event(), threading.Event()
    real_open = Image.open

    def slow_open(*args: object, **kwargs: object) -> object:  # a slow header parse, held open
        inside.set()
        release.wait(5)
        return real_open(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Image, "open", slow_open)
    thread = threading.Thread(
        target=lambda: image_decode.open_image(
            buffer.getvalue(), "image/png", document_id="x", max_pixels=10**12
        ).close()
    )
    with warnings.catch_warnings():
        thread.start()
        inside.wait(5)
        # The user's own thread configures warnings while invoiceai decodes: it must stick.
        warnings.simplefilter("error", ResourceWarning)
        release.set()
        thread.join(5)
        assert any(entry[0] == "error" and entry[2] is ResourceWarning for entry in warnings.filters)
