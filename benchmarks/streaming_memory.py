"""Peak memory of a long streaming run: 20,000 documents vs 1,000, each in a fresh process.

Run: python benchmarks/streaming_memory.py [--large 20000] [--small 1000] [--concurrency 8]

Each run is a child process that reads small generated images lazily from a generator, sends
them through ``Extractor.iter_extract`` with ``invoiceai.testing.FakeBackend`` and drops every
result after counting it, as a program writing results to a file would. The child reports its
peak RSS (``resource.getrusage(...).ru_maxrss``); the parent prints both and the difference.
Target: the large run within 50 MB of the small one, i.e. memory does not grow with the input.

``FakeBackend`` records every call in ``history`` (test bookkeeping, not the library's memory),
so the child clears it as it goes.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def images(count: int) -> Iterator[bytes]:
    """``count`` distinct small PNG scans (96 x 128 px), generated one at a time."""
    from PIL import Image, ImageDraw

    for index in range(count):
        image = Image.new("L", (96, 128), 255)
        draw = ImageDraw.Draw(image)
        draw.text((4, 4), f"{index:06d}", fill=0)
        draw.rectangle((4, 20 + index % 90, 90, 24 + index % 90), fill=index % 200)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        yield buffer.getvalue()


def child(count: int, concurrency: int) -> None:
    """Runs ``count`` documents through ``iter_extract`` and prints a JSON report."""
    sys.path.insert(0, str(ROOT / "tests"))
    from documents_factory import example_invoice
    from invoiceai import Extractor
    from invoiceai.testing import FakeBackend

    backend = FakeBackend(default=example_invoice())
    ok = failed = 0
    started = time.perf_counter()
    with Extractor(backend=backend, cache=None, concurrency=concurrency) as extractor:
        for item in extractor.iter_extract(images(count), progress=False):
            if item.ok:
                ok += 1
            else:
                failed += 1
            if len(backend.history) >= 256:
                backend.history.clear()
    elapsed = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"documents": count, "ok": ok, "failed": failed, "seconds": elapsed, "peak_kib": peak_kib}))


def run(count: int, concurrency: int) -> dict[str, float]:
    process = subprocess.run(
        [sys.executable, __file__, "--child", str(count), "--concurrency", str(concurrency)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    report: dict[str, float] = json.loads(process.stdout.strip().splitlines()[-1])
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", type=int, default=20_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.concurrency)
        return
    small = run(args.small, args.concurrency)
    large = run(args.large, args.concurrency)
    for report in (small, large):
        print(f"{report['documents']:>6} documents: peak RSS {report['peak_kib'] / 1024:7.1f} MiB, "
              f"{report['ok']} ok, {report['failed']} failed, {report['seconds']:.0f} s")  # fmt: skip
    difference = (large["peak_kib"] - small["peak_kib"]) / 1024
    print(f"difference: {difference:+.1f} MiB (target: within 50 MB)")


if __name__ == "__main__":
    main()
