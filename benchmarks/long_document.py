"""A 500-page PDF through ``Extractor.extract`` at the defaults: peak memory against the floor.

Run: python benchmarks/long_document.py [--pages 500] [--repetitions 3]

Each run is a fresh child process (peak RSS is per process): the floor renders the generated
PDF with raw pypdfium2 and encodes each page to JPEG, streaming (one page alive at a time); ours
extracts it with ``ClaudeBackend`` over the in-process fake API (default settings; the fake's
record of each request is dropped as it arrives, as it is test bookkeeping), with the sandbox on
(the default) and off. Prints medians of wall seconds, CPU seconds and peak RSS, the ratio to the
floor, the pages whose words provenance read (on at the defaults; see ``provenance_max_pages``)
and the load average. Target: ours within 1.3x of the floor's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child(kind: str, pages: int) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    sys.path.insert(0, str(ROOT / "tests"))
    # Both sides load the same libraries first: the floor's process is then the one an
    # application that extracts would be, and the peaks compare what rendering adds.
    import anthropic  # noqa: F401
    import pydantic  # noqa: F401

    import invoiceai.backends.claude
    import invoiceai.extractor.extractor  # noqa: F401
    from render import floor, generated_pdf

    data = generated_pdf(pages)
    started, cpu = time.perf_counter(), time.process_time()
    if kind == "floor":
        floor(data)
        requests = words = 0
    else:
        from documents_factory import example_invoice
        from invoiceai import Extractor, Settings
        from invoiceai.backends.claude import ClaudeBackend
        from invoiceai.testing import FakeClaudeAPI

        settings = Settings.load(render_memory_limit=0) if kind == "ours_in_process" else Settings.load()
        counted = [0]

        def forget(request: object) -> None:
            counted[0] += 1
            api.requests.clear()

        api = FakeClaudeAPI(answer=example_invoice(), on_request=forget)
        backend = ClaudeBackend(client=api.client(), settings=settings, detect_capabilities=False)
        with Extractor(backend=backend, cache=None, settings=settings) as extractor:
            result = extractor.extract(data)
        requests = counted[0]
        # At the defaults provenance is on: the pages whose words it read (at most provenance_max_pages).
        read = [kind for kind in (result.provenance.pages if result.provenance else {}).values() if kind != "none"]
        words = len(read)
    report = {
        "seconds": time.perf_counter() - started,
        "cpu": time.process_time() - cpu,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "requests": requests,
        "word_pages": words,
    }
    print(json.dumps(report))


def run(kind: str, pages: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--pages", str(pages)], capture_output=True, text=True, check=True
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.pages)
        return
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.repetitions} repetitions (medians)")
    print(f"load average before: {', '.join(f'{value:.2f}' for value in os.getloadavg())}")
    kinds = ("floor", "ours", "ours_in_process")
    runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    for _ in range(args.repetitions):
        for kind in kinds:  # interleaved, so a noisy neighbour slows each alike
            runs[kind].append(run(kind, args.pages))
    floor_peak = statistics.median(report["peak_mb"] for report in runs["floor"])
    heading = f"{'run':<16} {'wall s':>7} {'CPU s':>7} {'peak RSS MB':>12} {'/floor':>7} requests word-pages"
    print(f"\n{args.pages}-page PDF: {heading}")
    for kind in kinds:
        peak = statistics.median(report["peak_mb"] for report in runs[kind])
        wall = statistics.median(report["seconds"] for report in runs[kind])
        cpu = statistics.median(report["cpu"] for report in runs[kind])
        requests = int(runs[kind][-1]["requests"])
        words = int(runs[kind][-1]["word_pages"])
        figures = f"{wall:>7.2f} {cpu:>7.2f} {peak:>12.1f} {peak / floor_peak:>6.2f}x {requests:>8} {words}"
        print(f"{'':>14}{kind:<16} {figures}")
    print("(ours: the sandbox worker's memory is its own process; the CPU column is this process's)")
    print(f"load average after: {', '.join(f'{value:.2f}' for value in os.getloadavg())}")


if __name__ == "__main__":
    main()
