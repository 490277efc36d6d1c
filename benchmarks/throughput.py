"""Batch throughput against a loopback fake Claude with 0.5 s latency and a concurrency cap.

Run: python benchmarks/throughput.py [--documents 200] [--cap 16] [--latency 0.5] [--repeat 3]

The fake (invoiceai.testing.FakeClaudeAPI) runs in a child process, so its own CPU work does not
compete with the library for this process's GIL. It answers every request after ``latency``
seconds and refuses requests above ``cap`` in flight with 429 + retry-after. The ideal throughput
is cap / latency documents per second; the figures below are medians over ``repeat`` runs:

- run A, the recommended set-up: requests in flight capped at the account's concurrency
  (``max_concurrent_requests = cap``) and a few more documents in progress (``concurrency =
  cap + cap // 4``), so documents render while exactly ``cap`` requests are in flight;
- run B, the naive set-up: ``concurrency = cap`` and no request cap, so every document holds
  its slot while it renders and parses;
- run C, a 429 storm: ``concurrency = 2 x cap`` and no request cap, so half the requests are
  refused; the shared retry-after cooldown keeps the attempts per document down;
- a second, cached pass over the same documents (no requests), in ms per document.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def serve(conn: Any, latency: float, cap: int) -> None:
    """Child process: runs the fake API until told to stop, then reports its counters."""
    from documents_factory import example_invoice
    from invoiceai.testing import FakeClaudeAPI

    api = FakeClaudeAPI(
        answer=example_invoice().model_dump(mode="json"),
        usage={"input_tokens": 1600, "output_tokens": 450},
        latency=latency,
        max_concurrency=cap,
        concurrency_retry_after=0.25,
    )
    with api.serve() as server:
        conn.send(server.base_url)
        conn.recv()  # "report"
        conn.send({"requests": len(api.message_requests), "rejected": api.concurrency_rejections,
                   "peak": api.peak_concurrency})  # fmt: skip
        conn.recv()  # "stop"


def documents(count: int) -> list[bytes]:
    """Distinct one-page scans (grayscale PNG, 620 x 877 px)."""
    from documents_factory import page_image

    pages = []
    for index in range(count):
        buffer = io.BytesIO()
        page_image(f"{index:05d}").convert("L").save(buffer, format="PNG")
        pages.append(buffer.getvalue())
    return pages


def one_run(base_url: str, docs: list[bytes], concurrency: int, slots: int, cache_dir: Path) -> dict[str, Any]:
    from invoiceai import Extraction, Extractor
    from invoiceai.backends import ClaudeBackend, RetryPolicy
    from invoiceai.cache import SQLiteCache

    backend = ClaudeBackend(
        "claude-haiku-4-5", base_url=base_url, api_key="sk-ant-benchmark", detect_capabilities=False,
        retry=RetryPolicy(max_attempts=20, max_seconds=120, base_delay=0.05, max_delay=2.0),
        max_concurrent_requests=slots,
    )  # fmt: skip
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=200)
    parser.add_argument("--cap", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    ideal = args.cap / args.latency
    docs = documents(args.documents)
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(target=serve, args=(child, args.latency, args.cap))
    server.start()
    base_url = parent.recv()
    print(f"{args.documents} documents, fake Claude at {base_url}: latency {args.latency} s, cap {args.cap} "
          f"in flight (429 above); ideal C/L = {ideal:.1f} docs/s; medians of {args.repeat} runs")  # fmt: skip
    print(f"{'run':<28} {'docs/s':>7} {'vs ideal':>9} {'attempts/doc':>13} {'p50 s':>7} {'p95 s':>7} "
          f"{'cached ms/doc':>14}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        # Untimed warm-up: the first request of a process imports the anthropic SDK (over a
        # second) and builds the schema; steady-state throughput is what a long batch sees.
        one_run(base_url, documents(args.cap), args.cap, args.cap, Path(tmp))
        setups = (
            ("A  requests capped at C", args.cap + args.cap // 4, args.cap),
            ("B  concurrency = C", args.cap, 0),
            ("C  concurrency = 2C, storm", 2 * args.cap, 0),
        )
        for label, concurrency, slots in setups:
            runs = [one_run(base_url, docs, concurrency, slots, Path(tmp)) for _ in range(args.repeat)]

            def median(key: str, runs: list[dict[str, Any]] = runs) -> float:
                return statistics.median(run[key] for run in runs)

            rate = median("docs_per_s")
            print(f"{label:<28} {rate:>7.1f} {rate / ideal:>8.2f}x {median('requests') / args.documents:>13.3f} "
                  f"{median('p50'):>7.2f} {median('p95'):>7.2f} {median('cached_ms'):>14.2f}")  # fmt: skip
    parent.send("report")
    counters = parent.recv()
    parent.send("stop")
    server.join(timeout=10)
    print(f"fake API totals over all runs: {counters['requests']} requests, {counters['rejected']} refused "
          f"with 429 for exceeding the cap, peak {counters['peak']} in flight")  # fmt: skip


if __name__ == "__main__":
    main()
