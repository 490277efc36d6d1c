"""Reading a path as it really is (review of s21 WP-B): pipes read once and in chunks, caps never allocated.

Each case failed before its fix: a piped input read twice, a size cap preallocated by read(), a
poll() timeout past a C int, a share's lease refusing a non-blocking open, a slow writer on our
own stdin timed out, and an ordinary pipe called a named pipe.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from cli_helpers import isolate_cli, run
from documents_factory import SAMPLE_FACTURX
from fifo_helpers import HANG, feed_when_read, finishes, needs_fifo
from invoiceai.config import Settings
from invoiceai.documents import load_document
from invoiceai.errors import InputError


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_cli(tmp_path, monkeypatch)


@needs_fifo
def test_convert_to_facturx_reads_a_piped_input_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `cat s.pdf | invoiceai convert /dev/stdin --to facturx --out fx.pdf` read the pipe a second
    # time for the visible PDF, and said "nothing wrote to it".
    fifo = tmp_path / "stdin"
    os.mkfifo(fifo)
    monkeypatch.setenv("INVOICEAI_FETCH_TIMEOUT", "0.05")  # how long the second read waited
    data = SAMPLE_FACTURX.read_bytes()

    def write_once() -> None:
        with open(fifo, "wb") as pipe:  # blocks until the reader has its end open
            pipe.write(data)

    writer = threading.Thread(target=write_once, daemon=True)
    writer.start()
    out_file = tmp_path / "fx.pdf"
    argv = ["convert", str(fifo), "--to", "facturx", "--out", str(out_file)]
    code, _, err = finishes(lambda: run(argv, capsys), fifo)
    writer.join()
    assert code == 0, err
    assert out_file.read_bytes().startswith(b"%PDF")


def test_a_size_cap_beyond_memory_does_not_allocate_it(tmp_path: Path) -> None:
    # read(max_document_bytes + 1) preallocated: OverflowError for 2**63-1, MemoryError for 10**11.
    path = tmp_path / "invoice.pdf"
    path.write_bytes(SAMPLE_FACTURX.read_bytes())
    for cap in (2**63 - 1, 10**11):
        document = load_document(path, settings=Settings.load(env={}, max_document_bytes=cap))
        assert document.data == path.read_bytes()


@needs_fifo
def test_a_pipe_is_read_in_chunks_and_waited_for_beyond_what_poll_takes(tmp_path: Path) -> None:
    # poll(int(wait * 1000)) overflowed a C int for a wait beyond about 24.8 days.
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    data = SAMPLE_FACTURX.read_bytes()
    reading, writer = feed_when_read(fifo, data)
    patient = Settings.load(env={}, fetch_timeout=10**8, max_document_bytes=2**63 - 1)

    def load() -> Any:
        reading.set()
        return load_document(fifo, settings=patient)

    document = finishes(load, fifo)
    writer.join()
    assert document.data == data


def test_a_file_whose_non_blocking_open_is_refused_is_opened_blocking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A Samba/NFS lease refuses O_NONBLOCK with EWOULDBLOCK ("Resource temporarily unavailable").
    path = tmp_path / "invoice.pdf"
    path.write_bytes(SAMPLE_FACTURX.read_bytes())
    real_open = os.open
    refused: list[int] = []

    def leased_open(file: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if Path(file) == path and flags & getattr(os, "O_NONBLOCK", 0) and not refused:
            refused.append(flags)
            raise BlockingIOError(11, "Resource temporarily unavailable")
        return real_open(file, flags, *args, **kwargs)

    monkeypatch.setattr(os, "O_NONBLOCK", getattr(os, "O_NONBLOCK", 0) or 0x800, raising=False)
    monkeypatch.setattr(os, "open", leased_open)
    assert load_document(path).data == path.read_bytes()


needs_linux_fds = pytest.mark.skipif(
    not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd and /dev/stdin (Linux)"
)


@needs_linux_fds
def test_a_pipe_on_our_own_stdin_waits_for_a_slow_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    # `(sleep 3; cat s.pdf) | INVOICEAI_FETCH_TIMEOUT=1 invoiceai extract /dev/stdin` failed after
    # 1 s: the shell connected a writer, which may take its time.
    data = SAMPLE_FACTURX.read_bytes()
    read_end, write_end = os.pipe()
    saved_stdin = os.dup(0)
    os.dup2(read_end, 0)
    os.close(read_end)
    # The loader makes the pipe blocking once it decided not to time out: only then write.
    blocking, abandoned = threading.Event(), threading.Event()
    real_set_blocking = os.set_blocking

    def spy(descriptor: int, flag: bool) -> None:
        real_set_blocking(descriptor, flag)
        blocking.set()

    def write() -> None:
        try:
            if blocking.wait(HANG) and not abandoned.is_set():
                os.write(write_end, data)
        finally:
            os.close(write_end)

    monkeypatch.setattr(os, "set_blocking", spy)
    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        document = load_document("/dev/stdin", settings=Settings.load(env={}, fetch_timeout=0.001))
    finally:
        abandoned.set()  # the loader gave up: nothing reads what the writer would write
        blocking.set()
        writer.join()
        os.dup2(saved_stdin, 0)
        os.close(saved_stdin)
    assert document.data == data


@needs_linux_fds
def test_an_unnamed_pipe_without_a_writer_is_not_called_a_named_pipe() -> None:
    read_end, write_end = os.pipe()  # the write end stays open and silent
    try:
        with pytest.raises(InputError, match=r"is a pipe and nothing wrote to it") as caught:
            load_document(f"/proc/self/fd/{read_end}", settings=Settings.load(env={}, fetch_timeout=0.001))
    finally:
        os.close(read_end)
        os.close(write_end)
    assert "named" not in str(caught.value)


def test_a_path_is_opened_in_binary_mode_where_the_platform_has_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Windows' os.open() without O_BINARY reads in text mode; simulated here with a flag the
    # platform ignores (O_LARGEFILE's bit on Linux).
    path = tmp_path / "invoice.pdf"
    path.write_bytes(SAMPLE_FACTURX.read_bytes())
    binary = getattr(os, "O_BINARY", 0) or 0o100000
    real_open = os.open
    flags_seen: list[int] = []

    def spy(file: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        flags_seen.append(flags)
        return real_open(file, flags, *args, **kwargs)

    monkeypatch.setattr(os, "O_BINARY", binary, raising=False)
    monkeypatch.setattr(os, "open", spy)
    assert load_document(path).data == path.read_bytes()
    assert flags_seen and all(flags & binary for flags in flags_seen)
