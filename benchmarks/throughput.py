"""Batch throughput against a loopback fake Claude that refuses more than C requests in flight.

Run: python benchmarks/throughput.py [--documents 64] [--caps 4 8] [--latency 0.3] [--repeat 5]
     python benchmarks/throughput.py --classic   # the older 200-document table (runs A, B, C)
     python benchmarks/throughput.py --buckets --documents 48 [--repeat 5] [--concurrency 16]  # token buckets

The fake (invoiceai.testing.FakeClaudeAPI) runs in a child process, so its own CPU work does not
compete with the library for this process's GIL. It answers every request after ``latency``
seconds and refuses requests above C in flight with 429 + retry-after.

The default table is the run a user would naturally write: ``Extractor(concurrency=C)`` against
an account limit of C requests, nothing else tuned, over a mix of scanned JPEGs, text PDFs,
scanned PDFs and TIFFs, through ``extract_many`` (sync) and ``aextract_many`` (async). For each
it reports docs/s, the ratio to min(ideal C / latency, the same run's docs/s at zero latency),
429s and requests per document: medians of ``repeat`` runs, with the load average. The target
is a ratio of at least 0.9, no 429 and 1.00 requests per document.

``--buckets`` is the run against the account's real kind of limit, a token bucket the client
is not told about: a request bucket of capacity 4 refilling at 8 per second, then an
output-token bucket that holds 4 requests' ``max_tokens`` and refills 8 requests' worth per
second, each with ``concurrency`` at 1x, 2x and 4x the 4 the bucket admits at once, sync and
async. The ideal is a client that knows the bucket: it sends 4 at once, then one per refill,
finishing ``documents`` in ``(documents - 4) / 8 + latency`` seconds. Targets: a ratio of at
least 0.85 and at most 1.1 requests per document. Each row also shows the same documents
through the fake with no limit (``no-limit`` docs/s), the rate against the lower of the ideal
and that baseline (``of bound``), the machine's idle CPU meanwhile and the load average, so a
client held back by its pacing can be told from a machine short of CPU.

Provenance (on by default) reads each PDF's words after extraction; OCR of scans (the ``ocr``
extra) would add seconds of CPU per page and measure Tesseract, not pacing, so the benchmark
runs with ``INVOICEAI_OCR=off`` unless ``--ocr`` is given (``--no-provenance`` turns provenance
off as well).

To put an older engine side by side, run the same command with ``PYTHONPATH`` pointing at that
version's ``src`` (e.g. from ``git archive <commit> src | tar -x -C /tmp/old``).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def serve(conn: Any, latency: float, cap: int | None, limits: Any = None) -> None:
    """Child process: runs the fake API; answers "report" with its counters until "stop"."""
    from documents_factory import example_invoice
    from invoiceai.testing import FakeClaudeAPI

    api = FakeClaudeAPI(
        answer=example_invoice().model_dump(mode="json"),
        usage={"input_tokens": 1600, "output_tokens": 450},
        latency=latency,
        max_concurrency=cap,
        concurrency_retry_after=0.25,
        rate_limits=limits,
    )
    with api.serve() as server:
        conn.send(server.base_url)
        while conn.recv() == "report":
            limited = api.rate_limiter.rejections if api.rate_limiter is not None else 0
            max_tokens = max((r.body.get("max_tokens", 0) for r in api.message_requests), default=0)
            conn.send({"requests": len(api.message_requests), "rejected": api.concurrency_rejections + limited,
                       "peak": api.peak_concurrency, "max_tokens": max_tokens})  # fmt: skip


class FakeServer:
    """A fake Claude in a child process, with counters read over a pipe."""

    def __init__(self, latency: float, cap: int | None, limits: Any = None) -> None:
        self._conn, child = multiprocessing.Pipe()
        context = multiprocessing.get_context("spawn")
        self._process = context.Process(target=serve, args=(child, latency, cap, limits))
        self._process.start()
        self.base_url: str = self._conn.recv()

    def counters(self) -> dict[str, int]:
        self._conn.send("report")
        counters: dict[str, int] = self._conn.recv()
        return counters

    def stop(self) -> None:
        self._conn.send("stop")
        self._process.join(timeout=10)


def mixed_documents(count: int) -> list[bytes]:
    """Distinct one-page documents, a quarter of each kind: scanned JPEG, text PDF, scanned PDF, TIFF."""
    from documents_factory import page_image
    from render_fixtures import build_pdf, invoice_page, scanned_page

    documents = []
    for index in range(count):
        kind = index % 4
        if kind == 0:  # a phone or flatbed scan, 150 dpi A4
            buffer = io.BytesIO()
            page_image(f"jpeg {index:05d}", size=(1240, 1754)).save(buffer, format="JPEG", quality=85)
            documents.append(buffer.getvalue())
        elif kind == 1:
            documents.append(build_pdf([invoice_page(index)]))
        elif kind == 2:
            documents.append(build_pdf([scanned_page(ocr_text=[f"Invoice {index}"])]))
        else:  # a fax-style bilevel TIFF
            buffer = io.BytesIO()
            page_image(f"tiff {index:05d}", size=(1240, 1754)).convert("1").save(
                buffer, format="TIFF", compression="group4"
            )
            documents.append(buffer.getvalue())
    return documents


def one_png_per_document(count: int) -> list[bytes]:
    """Distinct one-page scans (grayscale PNG, 620 x 877 px), for the classic table."""
    from documents_factory import page_image

    pages = []
    for index in range(count):
        buffer = io.BytesIO()
        page_image(f"{index:05d}").convert("L").save(buffer, format="PNG")
        pages.append(buffer.getvalue())
    return pages


def make_backend(base_url: str, slots: int = 0) -> Any:
    from invoiceai.backends import ClaudeBackend, RetryPolicy

    return ClaudeBackend(
        "claude-haiku-4-5", base_url=base_url, api_key="sk-ant-benchmark", detect_capabilities=False,
        retry=RetryPolicy(max_attempts=20, max_seconds=120, base_delay=0.05, max_delay=2.0),
        max_concurrent_requests=slots,
    )  # fmt: skip


def natural_run(server: FakeServer, docs: list[bytes], concurrency: int, mode: str, cache_dir: Path) -> dict[str, Any]:
    """``Extractor(concurrency=C)``, nothing else tuned; returns docs/s, 429s and requests/doc."""
    from invoiceai import Extraction, Extractor
    from invoiceai.cache import SQLiteCache

    before = server.counters()
    backend = make_backend(server.base_url)
    with SQLiteCache(cache_dir / f"{mode}-{concurrency}-{time.time_ns()}.db") as cache:
        extractor = Extractor(backend=backend, cache=cache, concurrency=concurrency)
        started = time.perf_counter()
        if mode == "sync":
            results = extractor.extract_many(docs, progress=False)
        else:
            results = asyncio.run(_async_batch(extractor, docs))
        elapsed = time.perf_counter() - started
        extractor.close()
    backend.close()
    after = server.counters()
    ok = [result for result in results if isinstance(result, Extraction)]
    assert len(ok) == len(docs), [str(getattr(r, "error", "")) for r in results if not r.ok][:3]
    return {
        "docs_per_s": len(docs) / elapsed,
        "rejected": after["rejected"] - before["rejected"],
        "requests_per_doc": (after["requests"] - before["requests"]) / len(docs),
        "peak": after["peak"],
    }


async def _async_batch(extractor: Any, docs: list[bytes]) -> list[Any]:
    results: list[Any] = await extractor.aextract_many(docs, progress=False)
    await extractor.backend.aclose()
    return results


def natural_table(args: argparse.Namespace) -> None:
    docs = mixed_documents(args.documents)
    print(f"{args.documents} documents (scanned JPEG, text PDF, scanned PDF, TIFF), Extractor(concurrency=C) "
          f"at a limit of C in flight, latency {args.latency} s; medians of {args.repeat} runs")  # fmt: skip
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    header = (
        f"{'C':>2} {'mode':<5} {'docs/s':>7} {'0-lat docs/s':>13} {'C/L':>6} {'ratio':>6} {'429s':>5} {'req/doc':>8}"
    )
    print(header)
    with tempfile.TemporaryDirectory() as tmp:
        for cap in args.caps:
            slow, fast = FakeServer(args.latency, cap), FakeServer(0.0, cap)
            try:
                # Untimed warm-up: the first request imports the anthropic SDK (over a second).
                natural_run(fast, docs[: 2 * cap], cap, "sync", Path(tmp))
                for mode in ("sync", "async"):
                    timed = [natural_run(slow, docs, cap, mode, Path(tmp)) for _ in range(args.repeat)]
                    zero = [natural_run(fast, docs, cap, mode, Path(tmp)) for _ in range(args.repeat)]
                    rate = statistics.median(run["docs_per_s"] for run in timed)
                    zero_rate = statistics.median(run["docs_per_s"] for run in zero)
                    ideal = cap / args.latency
                    ratio = rate / min(ideal, zero_rate)
                    rejected = statistics.median(run["rejected"] for run in timed)
                    per_doc = statistics.median(run["requests_per_doc"] for run in timed)
                    print(f"{cap:>2} {mode:<5} {rate:>7.2f} {zero_rate:>13.2f} {ideal:>6.2f} {ratio:>6.2f} "
                          f"{rejected:>5.0f} {per_doc:>8.2f}")  # fmt: skip
            finally:
                slow.stop()
                fast.stop()
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def classic_run(base_url: str, docs: list[bytes], concurrency: int, slots: int, cache_dir: Path) -> dict[str, Any]:
    from invoiceai import Extraction, Extractor
    from invoiceai.cache import SQLiteCache

    backend = make_backend(base_url, slots)
    with SQLiteCache(cache_dir / f"c{concurrency}-{time.time_ns()}.db") as cache:
        extractor = Extractor(backend=backend, cache=cache, concurrency=concurrency)
        started = time.perf_counter()
        results = extractor.extract_many(docs, progress=False)
        elapsed = time.perf_counter() - started
        ok = [r for r in results if isinstance(r, Extraction)]
        assert len(ok) == len(docs), [str(getattr(r, "error", "")) for r in results if not r.ok][:3]
        latencies = sorted(r.timings.total for r in ok)
        started = time.perf_counter()
        cached = extractor.extract_many(docs, progress=False)
        cached_elapsed = time.perf_counter() - started
        assert all(getattr(r, "origin", None) == "cache" for r in cached)
        extractor.close()
    backend.close()
    return {
        "docs_per_s": len(docs) / elapsed,
        "requests": sum(r.usage.requests for r in ok),
        "p50": latencies[len(latencies) // 2],
        "p95": latencies[int(len(latencies) * 0.95) - 1],
        "cached_ms": cached_elapsed * 1000 / len(docs),
    }


def classic_table(args: argparse.Namespace) -> None:
    """200 PNG scans at cap 16 and 0.5 s: A requests capped, B concurrency = C, C a 429 storm."""
    cap, latency, count = 16, 0.5, 200
    ideal = cap / latency
    docs = one_png_per_document(count)
    server = FakeServer(latency, cap)
    print(f"{count} documents: latency {latency} s, cap {cap}; ideal {ideal:.1f} docs/s; medians of {args.repeat}")
    print(f"{'run':<28} {'docs/s':>7} {'vs ideal':>9} {'attempts/doc':>13} {'p50 s':>7} {'p95 s':>7} "
          f"{'cached ms/doc':>14}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        classic_run(server.base_url, one_png_per_document(cap), cap, cap, Path(tmp))
        setups = (
            ("A  requests capped at C", cap + cap // 4, cap),
            ("B  concurrency = C", cap, 0),
            ("C  concurrency = 2C, storm", 2 * cap, 0),
        )
        for label, concurrency, slots in setups:
            runs = [classic_run(server.base_url, docs, concurrency, slots, Path(tmp)) for _ in range(args.repeat)]

            def median(key: str, runs: list[dict[str, Any]] = runs) -> float:
                return statistics.median(run[key] for run in runs)

            rate = median("docs_per_s")
            print(f"{label:<28} {rate:>7.1f} {rate / ideal:>8.2f}x {median('requests') / count:>13.3f} "
                  f"{median('p50'):>7.2f} {median('p95'):>7.2f} {median('cached_ms'):>14.2f}")  # fmt: skip
    counters = server.counters()
    server.stop()
    print(f"fake API totals: {counters['requests']} requests, {counters['rejected']} refused with 429, "
          f"peak {counters['peak']} in flight")  # fmt: skip


def cpu_times() -> tuple[float, float]:
    """Returns (idle, total) CPU seconds of the whole machine so far (Linux ``/proc/stat``; zeros elsewhere)."""
    try:
        fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    return fields[3] + fields[4], sum(fields[:8])  # idle + iowait, of user..steal


def bucket_runs(args: argparse.Namespace, docs: list[bytes], limits: Any, concurrency: int, mode: str,
                tmp: Path) -> dict[str, float]:  # fmt: skip
    """Medians of ``repeat`` runs against a fresh, full bucket, each followed by the same run with no limit."""
    runs, baselines, idle = [], [], []
    for _ in range(args.repeat):
        idle_before, total_before = cpu_times()
        for target, kept in ((limits, runs), (None, baselines)):
            server = FakeServer(args.latency, None, target)
            try:
                kept.append(natural_run(server, docs, concurrency, mode, tmp))
            finally:
                server.stop()
        idle_after, total_after = cpu_times()
        idle.append((idle_after - idle_before) / max(1e-9, total_after - total_before))
    return {
        "docs_per_s": statistics.median(run["docs_per_s"] for run in runs),
        "rejected": statistics.median(run["rejected"] for run in runs),
        "requests_per_doc": statistics.median(run["requests_per_doc"] for run in runs),
        "baseline": statistics.median(run["docs_per_s"] for run in baselines),
        "idle": statistics.median(idle),
    }


def bucket_table(args: argparse.Namespace) -> None:
    """Token buckets the client is not told about, concurrency at 1x, 2x and 4x what they admit at once.

    Each run is followed by the same documents through the fake with no limit (``no-limit``):
    when that baseline is not far above the ideal, or the machine had little idle CPU, the
    client was starved of CPU rather than held back by its pacing.
    """
    from invoiceai.testing import RateLimits, TokenBucket

    burst, refill = 4, 8.0
    docs = mixed_documents(args.documents)
    probe = FakeServer(0.0, None)
    with tempfile.TemporaryDirectory() as tmp:
        natural_run(probe, docs[:2], 1, "sync", Path(tmp))  # learns the requests' max_tokens
        max_tokens = probe.counters()["max_tokens"]
        probe.stop()
        kinds = (
            ("requests", RateLimits(requests=TokenBucket(burst, refill))),
            ("output-tokens", RateLimits(output_tokens=TokenBucket(burst * max_tokens, refill * max_tokens))),
        )
        ideal = args.documents / ((args.documents - burst) / refill + args.latency)
        print(f"{args.documents} mixed documents, latency {args.latency} s; bucket admits {burst} at once and "
              f"refills {refill:g} requests' worth per second (max_tokens {max_tokens}); ideal {ideal:.2f} docs/s; "
              f"medians of {args.repeat} runs; no-limit: the same run without a limit; idle: the machine's "
              f"idle CPU during both")  # fmt: skip
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"{'bucket':<14} {'C':>3} {'mode':<5} {'docs/s':>7} {'ratio':>6} {'429s':>5} {'req/doc':>8} "
              f"{'no-limit':>9} {'of bound':>9} {'idle':>5} {'load':>5}")  # fmt: skip
        for name, limits in kinds:
            for concurrency in args.concurrency or (burst, 2 * burst, 4 * burst):
                for mode in ("sync", "async"):
                    row = bucket_runs(args, docs, limits, concurrency, mode, Path(tmp))
                    print(f"{name:<14} {concurrency:>3} {mode:<5} {row['docs_per_s']:>7.2f} "
                          f"{row['docs_per_s'] / ideal:>6.2f} {row['rejected']:>5.0f} {row['requests_per_doc']:>8.2f} "
                          f"{row['baseline']:>9.2f} {row['docs_per_s'] / min(ideal, row['baseline']):>9.2f} "
                          f"{row['idle']:>5.0%} {os.getloadavg()[0]:>5.1f}")  # fmt: skip
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=64)
    parser.add_argument("--caps", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--classic", action="store_true", help="the 200-document runs A, B, C instead")
    parser.add_argument("--buckets", action="store_true", help="token-bucket limits the client is not told about")
    parser.add_argument("--concurrency", type=int, nargs="+", help="with --buckets: only these (default 4 8 16)")
    parser.add_argument("--ocr", action="store_true", help="let provenance OCR the scans (the ocr extra)")
    parser.add_argument("--no-provenance", action="store_true", help="no provenance (INVOICEAI_PROVENANCE=0)")
    args = parser.parse_args()
    if not args.ocr:
        os.environ["INVOICEAI_OCR"] = "off"
    if args.no_provenance:
        os.environ["INVOICEAI_PROVENANCE"] = "0"
    print(f"provenance {'off' if args.no_provenance else 'on'}, OCR {'auto' if args.ocr else 'off'}")
    if args.buckets:
        bucket_table(args)
    elif args.classic:
        classic_table(args)
    else:
        natural_table(args)


if __name__ == "__main__":
    main()
