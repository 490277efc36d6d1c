"""Bad files from the outside (review s21 WP-B): pipes, devices, odd names, hints for what was meant.

Each case was found by throwing the input at ``invoiceai`` and ``Extractor`` as a newcomer would;
each asserts a typed error (library) or one line with an exit status (CLI), never a hang.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from cli_helpers import isolate_cli, run
from documents_factory import SAMPLE_FACTURX
from fifo_helpers import feed_when_read, finishes, needs_fifo
from invoiceai.cli.inputs import needs_model
from invoiceai.config import Settings
from invoiceai.documents import aload_document, load_document
from invoiceai.einvoice import read_einvoice
from invoiceai.errors import CorruptDocumentError, EmptyDocumentError, InputError, NotAnInvoiceError

needs_devices = pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_cli(tmp_path, monkeypatch)


# -- FIFOs: a named pipe nobody writes to hung every command --------------------------------------


@needs_fifo
def test_a_fifo_without_a_writer_is_an_input_error_not_a_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "invoice.pdf"
    os.mkfifo(fifo)
    quick = Settings.load(env={}, fetch_timeout=0.05)  # how long to wait for a writer that never comes
    with pytest.raises(InputError, match=r"invoice\.pdf is a named pipe \(FIFO\) and nothing wrote to it"):
        finishes(lambda: load_document(fifo, settings=quick), fifo)
    with pytest.raises(InputError, match="named pipe"):
        finishes(lambda: asyncio.run(aload_document(str(fifo), settings=quick)), fifo)


@needs_fifo
def test_a_fifo_whose_writer_closes_without_writing_is_empty(tmp_path: Path) -> None:
    fifo = tmp_path / "invoice.pdf"
    os.mkfifo(fifo)
    opened = threading.Event()

    def write_nothing() -> None:
        opened.wait()
        with open(fifo, "wb"):  # blocks until the reader has its end open
            pass

    writer = threading.Thread(target=write_nothing, daemon=True)
    writer.start()

    def load() -> Any:
        opened.set()
        return load_document(fifo)

    with pytest.raises(EmptyDocumentError, match=r"invoice\.pdf is empty"):
        finishes(load, fifo)
    writer.join()


@needs_fifo
def test_a_fifo_with_a_writer_is_read_to_its_end(tmp_path: Path) -> None:
    # What `cat invoice.pdf | invoiceai extract /dev/stdin` relies on.
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    data = SAMPLE_FACTURX.read_bytes()
    reading, writer = feed_when_read(fifo, data)

    def load() -> Any:
        reading.set()
        return load_document(fifo)

    document = finishes(load, fifo)
    writer.join()
    assert (document.data, document.media_type) == (data, "application/pdf")


@needs_fifo
def test_the_cli_does_not_peek_into_a_fifo_or_hang_on_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "scan.pdf"
    os.mkfifo(fifo)
    monkeypatch.setenv("INVOICEAI_FETCH_TIMEOUT", "0.05")
    # Without a key the CLI looks at each file to see whether it needs the model: opening the
    # FIFO to look blocked, and reading it would eat the start of a piped document.
    assert finishes(lambda: needs_model(str(fifo)), fifo) is False
    code, out, err = finishes(lambda: run(["extract", str(fifo), "--format", "jsonl"], capsys), fifo)
    assert code == 1
    assert "named pipe (FIFO)" in err and "Traceback" not in err
    code, out, err = finishes(lambda: run(["convert", str(fifo), "--to", "cii"], capsys), fifo)
    assert (code, out) == (1, "")
    assert err.startswith(f"invoiceai: {fifo}: ") and err.count("\n") == 1


@needs_fifo
def test_validate_says_a_fifo_is_not_a_regular_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "results.json"
    os.mkfifo(fifo)
    code, _, err = run(["validate", str(fifo)], capsys)
    assert code == 2
    assert "not a regular file" in err and "no such file" not in err


@needs_devices
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null"])
def test_a_character_device_is_refused_as_not_a_file(device: str) -> None:
    # /dev/zero was read up to the 50 MB cap; a terminal (/dev/tty) would wait for typing.
    with pytest.raises(InputError, match=r"is a character device .*not a file"):
        load_document(device)


# -- names and hints -----------------------------------------------------------------------------


def test_a_broken_link_is_named_with_its_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    link = tmp_path / "invoice.pdf"
    link.symlink_to(tmp_path / "gone.pdf")
    with pytest.raises(InputError, match=r"broken link to .*gone\.pdf"):
        load_document(link)
    code, _, err = run(["extract", str(link)], capsys)
    assert code == 2
    assert "broken link to" in err and "gone.pdf" in err


@pytest.mark.parametrize(
    ("argument", "hint"),
    [("-", "to read standard input, pass /dev/stdin"), ("file:///srv/in/a.pdf", "pass the path itself, /srv/in/a.pdf")],
)
def test_a_missing_argument_says_what_it_probably_meant(
    argument: str, hint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["extract", argument], capsys)
    assert code == 2
    assert hint in err


def test_a_name_with_a_newline_stays_on_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(tmp_path / "a\nb.pdf")
    with pytest.raises(InputError) as caught:
        load_document(missing)
    assert "\n" not in str(caught.value)
    code, _, err = run(["extract", missing], capsys)
    assert code == 2
    assert err.count("\n") == 1


@pytest.mark.skipif(sys.platform != "linux", reason="a name that is not UTF-8 needs a Linux file system")
def test_a_name_that_is_not_utf8_does_not_lose_the_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The file name decodes to a lone surrogate; writing it crashed --out after the work was done.
    source = Path(os.fsdecode(bytes(tmp_path) + b"/ok\xff.pdf"))
    shutil.copy(SAMPLE_FACTURX, source)
    target = tmp_path / "out.csv"
    code, _, err = run(["extract", str(source), "--format", "csv", "--out", str(target)], capsys)
    assert code == 0, err
    assert "ok\\udcff.pdf" in target.read_text(encoding="utf-8")


def test_stdout_that_cannot_encode_a_name_escapes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    source = Path(os.fsdecode(bytes(tmp_path) + b"/ok\xff.pdf"))
    shutil.copy(SAMPLE_FACTURX, source)
    buffer = io.BytesIO()
    strict = io.TextIOWrapper(buffer, encoding="utf-8", errors="strict", write_through=True)
    monkeypatch.setattr(sys, "stdout", strict)
    code, _, err = run(["extract", str(source), "--format", "jsonl"], capsys)
    assert code == 0, err
    assert b"ok\\udcff.pdf" in buffer.getvalue()


# -- what a bad document is told -----------------------------------------------------------------


def test_an_invoice_root_in_the_wrong_namespace_names_the_right_one() -> None:
    xml = (
        b'<?xml version="1.0"?><Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-9">'
        b"<ID>1</ID></Invoice>"
    )
    with pytest.raises(NotAnInvoiceError) as caught:
        read_einvoice(xml)
    message = str(caught.value)
    assert "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" in message
    assert "xmlns" in message and "UBL Invoice document, not an invoice" not in message


def test_an_undecodable_image_message_has_no_python_object_address() -> None:
    from invoiceai.render.image_decode import open_image

    # A PNG signature and a header with a 0x0 size: Pillow cannot identify it.
    header = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x00\x00\x00\x00\x00\x08\x02\x00\x00\x00"
    with pytest.raises(CorruptDocumentError) as caught:
        open_image(header + b"\x00" * 16, "image/png", document_id="0" * 64, max_pixels=10**6)
    assert "object at 0x" not in str(caught.value)


def test_convert_names_the_input_it_could_not_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(SAMPLE_FACTURX.read_bytes()[:300])
    code, out, err = run(["convert", str(broken), "--to", "ubl"], capsys)
    assert (code, out) == (1, "")
    assert err.startswith(f"invoiceai: {broken}: ") and err.count("\n") == 1


def test_convert_of_an_empty_directory_says_it_takes_one_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["convert", str(tmp_path), "--to", "ubl"], capsys)
    assert code == 2
    assert "convert takes one invoice file" in err


# -- validate: JSON by default, e-invoices with --xml -------------------------------------------


def test_validate_without_xml_points_an_e_invoice_to_the_xml_option(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["validate", str(SAMPLE_FACTURX)], capsys)
    assert code == 1
    assert "pass --xml" in out


def test_validate_xml_names_an_image_as_an_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from documents_factory import png_invoice

    image = tmp_path / "scan.xml"  # the name says XML; the bytes are a PNG
    image.write_bytes(png_invoice())
    code, out, _ = run(["validate", "--xml", str(image), "--format", "json"], capsys)
    assert code == 1
    assert "image/png, not an e-invoice" in out and "not well-formed" not in out


# -- eval labels -----------------------------------------------------------------------------------


def test_an_unreadable_value_in_an_eval_label_is_refused(tmp_path: Path) -> None:
    from documents_factory import png_invoice
    from invoiceai.errors import ConfigurationError
    from invoiceai.evaluation.dataset import load_dataset

    (tmp_path / "a.png").write_bytes(png_invoice())
    # Kept as null before: the model's right date then scored as wrong, and nothing said why.
    (tmp_path / "a.json").write_text('{"invoice_number": "A-1", "issue_date": "yesterday"}', encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"a\.json has a value that cannot be read: issue_date"):
        load_dataset([tmp_path])


@pytest.mark.parametrize("placeholder", ["n/a", "-", "N/A"])
def test_a_placeholder_in_an_eval_label_reads_as_no_value(tmp_path: Path, placeholder: str) -> None:
    from documents_factory import png_invoice
    from invoiceai.evaluation.dataset import load_dataset

    (tmp_path / "a.png").write_bytes(png_invoice())
    # Refused as "a value that cannot be read" since any normalisation finding failed the label.
    label = {"invoice_number": "A-1", "issue_date": "2024-03-01", "due_date": placeholder}
    (tmp_path / "a.json").write_text(json.dumps(label), encoding="utf-8")
    (case,) = load_dataset([tmp_path]).documents
    assert case.truth.due_date is None and case.truth.issue_date is not None


# -- a cache path that names someone's file --------------------------------------------------------


@pytest.mark.parametrize("name", ["invoices.csv", "passwd"])
def test_a_cache_path_naming_a_file_that_is_no_database_leaves_it_in_place(tmp_path: Path, name: str) -> None:
    from invoiceai.cache import SQLiteCache
    from invoiceai.errors import ConfigurationError

    # `--cache invoices.csv` (for --out) moved the user's file to invoices.csv.corrupt-... and put
    # a database in its place; `--cache /etc/passwd` did the same to the system's user list.
    victim = tmp_path / name
    victim.write_text("file,total\na.pdf,119.00\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="not a SQLite database"):
        SQLiteCache(victim)
    assert victim.read_text(encoding="utf-8") == "file,total\na.pdf,119.00\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == [name]


# -- --out naming an input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["extract", "{input}", "--out", "{out}"],
        ["convert", "{input}", "--to", "cii", "--out", "{out}"],
        ["eval", "{folder}", "--out", "{out}"],
        ["eval", "{folder}", "--html", "{out}"],
    ],
)
def test_an_output_that_is_an_input_is_refused_before_any_work(
    tmp_path: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # `extract a.pdf --out a.pdf` replaced the invoice with its JSON.
    folder = tmp_path / "inbox"
    folder.mkdir()
    invoice = folder / "a.pdf"
    shutil.copy(SAMPLE_FACTURX, invoice)  # an e-invoice: its own label for eval
    out = folder / "." / "a.pdf"  # another spelling of the same file
    argv = [part.format(input=invoice, out=out, folder=folder) for part in command]
    code, _, err = run(argv, capsys)
    assert code == 2
    assert "the results would replace it" in err
    assert invoice.read_bytes() == SAMPLE_FACTURX.read_bytes()


def test_a_cache_dir_that_is_a_file_says_so(tmp_path: Path) -> None:
    from invoiceai.cache import SQLiteCache
    from invoiceai.errors import CacheError

    # INVOICEAI_CACHE_DIR=some/file: the message was "[Errno 17] File exists" and "check that
    # the directory is writable".
    file = tmp_path / "settings.toml"
    file.write_text("x = 1\n", encoding="utf-8")
    with pytest.raises(CacheError, match=r"settings\.toml is a file, not a directory"):
        SQLiteCache(file / "cache.sqlite3")
    assert file.read_text(encoding="utf-8") == "x = 1\n"
