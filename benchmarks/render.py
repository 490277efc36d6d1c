"""Rendering throughput and size: invoiceai against the raw-pdfium floor and the naive approach.

Run: python benchmarks/render.py [repetitions] [--corpus DIR]

For the corpus PDFs and for a generated 200-page invoice PDF it prints pages/s and bytes/page of

* ours:  ``open_document(doc).render(ImageBudget())`` (text layer, colour check, encoding choice),
         in a sandbox worker process (the default ``render_memory_limit``);
* ours_in_process: the same with ``render_memory_limit=0``, pdfium in this process;
* floor: raw pypdfium2 render at the same scale plus a Pillow JPEG encode (default quality),
         the least any renderer must do;
* naive: every page at 300 dpi, saved as PNG;

then the ratios, and the peak RSS of rendering the 200-page PDF (each approach in a fresh child
process, so the others' memory does not pollute it). Times are medians over the repetitions,
interleaved so a noisy neighbour hurts every approach alike.

Targets: ours >= 0.85x the floor in pages/s, and <= 0.1x the naive bytes/page.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = Path(os.environ.get("INVOICEAI_CORPUS", ROOT.parent / "shared" / "corpus"))
CORPUS_DIRS = ("einvoice/pdf", "invoice2data", "misc")
GENERATED_PAGES = 500

Approach = Callable[[bytes], tuple[int, int]]


# --- the three approaches; each returns (pages, total encoded bytes) ---------------------------------


def ours(data: bytes, *, processes: int = 0, memory_limit: int | None = None) -> tuple[int, int]:
    from invoiceai import Settings
    from invoiceai.documents import Document
    from invoiceai.pages import ImageBudget
    from invoiceai.render import RendererRegistry

    settings = Settings.load(render_memory_limit=memory_limit)
    registry = RendererRegistry.with_builtins(processes=processes, settings=settings)
    source = registry.open(Document.from_bytes(data))
    pages = total = 0
    for page in source.render(ImageBudget()):
        pages += 1
        total += len(page.data)
    return pages, total


def ours_processes(data: bytes) -> tuple[int, int]:
    return ours(data, processes=2)


def ours_in_process(data: bytes) -> tuple[int, int]:
    """Ours without the sandbox (``render_memory_limit=0``): pdfium runs in this process."""
    return ours(data, memory_limit=0)


def floor(data: bytes) -> tuple[int, int]:
    import pypdfium2

    from invoiceai.pages import ImageBudget
    from invoiceai.render.pdf.raster import MAX_SCALE

    budget = ImageBudget()
    pdf = pypdfium2.PdfDocument(data)
    pages = total = 0
    for index in range(len(pdf)):
        page = pdf[index]
        width, height = page.get_size()
        bitmap = page.render(scale=min(budget.scale_for(width, height), MAX_SCALE))
        buffer = io.BytesIO()
        bitmap.to_pil().save(buffer, "JPEG")
        bitmap.close()
        page.close()
        pages += 1
        total += buffer.tell()
    pdf.close()
    return pages, total


def naive(data: bytes, *, stride: int = 1) -> tuple[int, int]:
    import pypdfium2

    pdf = pypdfium2.PdfDocument(data)
    pages = total = 0
    for index in range(0, len(pdf), stride):
        page = pdf[index]
        bitmap = page.render(scale=300 / 72)
        buffer = io.BytesIO()
        bitmap.to_pil().save(buffer, "PNG")
        bitmap.close()
        page.close()
        pages += 1
        total += buffer.tell()
    pdf.close()
    return pages, total


APPROACHES: dict[str, Approach] = {"ours": ours, "floor": floor, "naive": naive, "ours_in_process": ours_in_process}


# --- inputs --------------------------------------------------------------------------------------------


def corpus_pdfs(corpus: Path) -> list[bytes]:
    """Every corpus PDF that opens without a password and renders in full."""
    from invoiceai.errors import InvoiceAIError

    found = []
    for sub in CORPUS_DIRS:
        for path in sorted((corpus / sub).glob("*.pdf")):
            data = path.read_bytes()
            try:
                ours(data)
            except InvoiceAIError:
                continue
            found.append(data)
    return found


def generated_pdf(pages: int = GENERATED_PAGES) -> bytes:
    """A long invoice: coloured letterhead, 40 item lines, ruled table and totals on every page."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    bold = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>")
    pages_id = len(objects) + 2 * pages + 1
    kids = []
    for number in range(1, pages + 1):
        ops = [
            "0.11 0.33 0.60 rg 36 770 523 48 re f",
            "BT /F2 20 Tf 1 1 1 rg 48 786 Td (Northwind Office Supplies GmbH) Tj ET",
            "BT /F1 9 Tf 0 0 0 rg 48 748 Td (Hauptstrasse 12, 10115 Berlin  -  VAT DE123456789) Tj ET",
            f"BT /F2 12 Tf 380 748 Td (Invoice INV-2026-{number:05d}) Tj ET",
            f"BT /F1 9 Tf 380 734 Td (Date 2026-03-{number % 28 + 1:02d}   Page {number} of {pages}) Tj ET",
            "0.85 0.85 0.85 rg 36 700 523 16 re f",
            "BT /F2 9 Tf 0 0 0 rg 42 705 Td (Pos) Tj 40 0 Td (Description) Tj 260 0 Td (Qty) Tj "
            "60 0 Td (Unit) Tj 70 0 Td (Amount) Tj ET",
            "0.6 G 0.5 w",
        ]
        for row in range(40):
            y = 688 - row * 15
            quantity = (row * 7 + number) % 12 + 1
            unit = 3.5 + (row * 13 % 40)
            ops.append(
                f"BT /F1 9 Tf 42 {y} Td ({row + 1}) Tj 40 0 Td (Item {number}-{row:02d} copy paper A4, 80 g/m2, "
                f"box of 5 reams) Tj 260 0 Td ({quantity}) Tj 60 0 Td ({unit:.2f}) Tj 70 0 Td "
                f"({quantity * unit:,.2f} EUR) Tj ET"
            )
            ops.append(f"36 {y - 4} m 559 {y - 4} l S")
        ops += [
            "BT /F2 10 Tf 380 70 Td (Total due: 12,345.67 EUR) Tj ET",
            "BT /F1 8 Tf 48 40 Td (IBAN DE89 3704 0044 0532 0130 00 - BIC COBADEFFXXX - Payable within 30 days) Tj ET",
        ]
        stream = "\n".join(ops).encode("latin-1")
        content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] /Contents %d 0 R "
                b"/Resources << /Font << /F1 %d 0 R /F2 %d 0 R >> >> >>" % (pages_id, content, font, bold)
            )
        )
    assert add(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), pages)) == (
        pages_id
    )
    catalog = add(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, catalog, xref)
    return bytes(out)


# --- measuring -----------------------------------------------------------------------------------------


def measure(
    documents: list[bytes], approaches: dict[str, Approach], repetitions: int, *, once: tuple[str, ...] = ()
) -> dict[str, dict[str, float]]:
    """Median pages/s (wall and CPU) and mean bytes/page per approach.

    The approaches take turns document by document (in a rotating order), so a noisy
    neighbour on the shared machine slows them alike instead of whichever ran during the
    spike. Approaches named in ``once`` run in the first repetition only (the naive one is slow
    and only its bytes matter).
    """
    names = list(approaches)
    timings: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    sizes: dict[str, tuple[int, int]] = {}
    for repetition in range(repetitions):
        active = [name for name in names if repetition == 0 or name not in once]
        wall = dict.fromkeys(active, 0.0)
        cpu = dict.fromkeys(active, 0.0)
        pages = dict.fromkeys(active, 0)
        total = dict.fromkeys(active, 0)
        for position, data in enumerate(documents):
            turn = position % len(active)
            for name in active[turn:] + active[:turn]:
                started_wall, started_cpu = time.perf_counter(), time.process_time()
                count, size = approaches[name](data)
                wall[name] += time.perf_counter() - started_wall
                cpu[name] += time.process_time() - started_cpu
                pages[name] += count
                total[name] += size
        for name in active:
            timings[name].append((wall[name], cpu[name]))
            sizes[name] = (pages[name], total[name])
    results = {}
    for name in names:
        count, size = sizes[name]
        results[name] = {
            "pages": count,
            "pages_per_s": count / statistics.median(seconds for seconds, _ in timings[name]),
            "cpu_ms_per_page": 1000 * statistics.median(seconds for _, seconds in timings[name]) / count,
            "bytes_per_page": size / count,
        }
    return results


def peak_rss_mb(approach: str, path: Path) -> tuple[float, float, float]:
    """(baseline, peak, sandbox worker's peak) RSS in MiB of a fresh child process rendering ``path``."""
    result = subprocess.run(
        [sys.executable, __file__, "--rss-child", approach, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    baseline, peak, worker = result.stdout.split()
    return float(baseline), float(peak), float(worker)


def _status_mb(field: str) -> float | None:
    return _status_mb_of("self", field)


def _status_mb_of(pid: int | str, field: str) -> float | None:
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        return None
    for line in status.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return None


def rss_child(approach: str, path: str) -> None:
    import PIL.Image  # noqa: F401 - loaded before the baseline, as in a running service
    import pypdfium2  # noqa: F401

    import invoiceai.render  # noqa: F401

    data = Path(path).read_bytes()
    clear_refs = Path("/proc/self/clear_refs")
    if clear_refs.exists():
        # ru_maxrss survives exec() on Linux (it would report the parent's peak); VmHWM can be
        # reset, so the peak below is this rendering's alone.
        clear_refs.write_text("5")
    baseline = _status_mb("VmRSS") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    {"ours_processes": ours_processes, **APPROACHES}[approach](data)
    peak = _status_mb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    from invoiceai import Settings
    from invoiceai.render.pdf.sandbox_pool import pool_for

    # The sandbox worker's own peak: it is a child of this process, still running.
    pids = pool_for(Settings.load().render_memory_limit).idle_pids
    worker = max((_status_mb_of(pid, "VmHWM") or 0.0 for pid in pids), default=0.0)
    print(f"{baseline:.1f} {peak:.1f} {worker:.1f}")


def report(title: str, results: dict[str, dict[str, float]]) -> None:
    floor_speed = results["floor"]["pages_per_s"]
    naive_size = results["naive"]["bytes_per_page"]
    print(f"\n{title} ({int(results['ours']['pages'])} pages)")
    print(
        f"  {'approach':<16} {'pages/s':>9} {'CPU ms/page':>12} {'KB/page':>9} {'speed/floor':>12} {'bytes/naive':>12}"
    )
    for name, row in results.items():
        print(
            f"  {name:<16} {row['pages_per_s']:>9.1f} {row['cpu_ms_per_page']:>12.2f} "
            f"{row['bytes_per_page'] / 1024:>9.1f} {row['pages_per_s'] / floor_speed:>11.2f}x "
            f"{row['bytes_per_page'] / naive_size:>11.3f}x"
        )
    speed = results["ours"]["pages_per_s"] / floor_speed
    size = results["ours"]["bytes_per_page"] / naive_size
    if "ours_in_process" in results:
        sandbox = results["ours"]["pages_per_s"] / results["ours_in_process"]["pages_per_s"]
        print(f"  sandbox overhead: ours (sandboxed) / ours_in_process = {sandbox:.2f}x pages/s")
    print(
        f"  targets: speed {speed:.2f}x >= 0.85x {'PASS' if speed >= 0.85 else 'FAIL'}; "
        f"bytes {size:.3f}x <= 0.1x {'PASS' if size <= 0.1 else 'FAIL'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repetitions", nargs="?", type=int, default=5)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--rss-child", nargs=2, metavar=("APPROACH", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(*args.rss_child)
        return

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.repetitions} repetitions (medians)")
    print(f"load average before: {', '.join(f'{value:.2f}' for value in os.getloadavg())}")
    if args.corpus.is_dir():
        documents = corpus_pdfs(args.corpus)
        report(
            f"corpus PDFs: {len(documents)} files",
            measure(documents, APPROACHES, args.repetitions, once=("naive",)),
        )
    else:
        print(f"\n(corpus not found at {args.corpus}; skipped)")

    generated = generated_pdf()
    with_pool = {
        "ours": ours,
        "floor": floor,
        # 300 dpi PNG is ~40x slower; every 5th page, once, gives its bytes/page.
        "naive": lambda data: naive(data, stride=5),
        "ours_processes": ours_processes,
        "ours_in_process": ours_in_process,
    }
    report(
        f"generated {GENERATED_PAGES}-page PDF",
        measure([generated], with_pool, args.repetitions, once=("naive",)),
    )

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "generated.pdf"
        path.write_bytes(generated)
        print(f"\npeak RSS rendering the {GENERATED_PAGES}-page PDF (fresh child process each)")
        for name in ("ours", "ours_in_process", "ours_processes", "floor", "naive"):
            baseline, peak, worker = peak_rss_mb(name, path)
            print(
                f"  {name:<16} peak {peak:7.1f} MB  (+{peak - baseline:6.1f} MB over the process after imports)"
                + (f"; sandbox worker peak {worker:7.1f} MB" if worker else "")
            )
    print("\n(ours_processes: 2 worker processes; their own memory is not in the parent's RSS)")
    print(f"load average after: {', '.join(f'{value:.2f}' for value in os.getloadavg())}")


if __name__ == "__main__":
    main()
