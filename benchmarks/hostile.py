"""Peak memory and time of every hostile file of issue 10, each in a fresh process.

Run: python benchmarks/hostile.py [--repeat 3] [--limit BYTES] [--kill-after 60] [--only NAME ...]
                                  [--memory-limit BYTES] [--ratio-repeat 3]

Each file is built and extracted (FakeBackend, no cache, default settings) in a child process
under an address-space limit (default 1 GiB, the issue's; ``--limit 0`` for none), exactly as
``tests/test_hostile.py`` runs it. The parent samples the peak resident set (``VmHWM``) of the
child and of its own children (the PDF sandbox worker, render-pool processes) while it runs, so a
process that aborts or is killed still has a figure; a worker the child reaped reports its peak
through ``RUSAGE_CHILDREN`` too. Figures are medians over the repetitions; the load average is
printed before and after, since a busy machine stretches every time. Ordinary invoices (1 and 20
pages) are measured too, to size a worker from. ``--memory-limit 0`` turns the sandbox off
(``render_memory_limit=0``), to compare.

Last, the throughput of the ordinary corpus PDFs rendered in the sandbox and in-process
(``benchmarks/render.py``'s two ``ours`` approaches, interleaved), with the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import fuzzing  # noqa: E402
import hostile_files  # noqa: E402

CASES: dict[str, dict[str, Any]] = {
    "invoice, 1 page": {"build": "invoice_pdf", "args": {"pages": 1}},
    "invoice, 20 pages": {"build": "invoice_pdf", "args": {"pages": 20}},
    "content stream 1 GiB": {"build": "flate_bomb_content_pdf"},
    "attachment 1 GiB": {"build": "flate_bomb_attachment_pdf"},
    "100,000 pages": {"build": "many_pages_pdf"},
    "one page x 20,000": {"build": "one_page_repeated_pdf"},
    "dictionary 500,000 deep": {"build": "deep_dictionary_pdf"},
    "TIFF 10,000 frames": {"build": "many_frames_tiff"},
    "TIFF 10,000 frames, pages=1": {"build": "many_frames_tiff", "pages": "1"},
    # Past the pre-scan: only the sandbox stops these (tests/pdf_bombs.py).
    "(a) encrypted, content 1 GiB": {"build": "encrypted_bomb_pdf"},
    "(b) /Contents 24 x 100 MiB": {"build": "many_contents_pdf"},
    "(c) forms 1000 x 1000 x 1000": {"build": "form_fanout_pdf"},
    "(d) 5,000,000 paths": {"build": "many_paths_pdf"},
    "(e) slow shading (timeout 5 s)": {"build": "slow_shading_pdf", "settings": {"render_timeout": 5}},
    # A 1000 x 1000 Flate image inflating to 1 GiB: the pre-scan checks it by its declared size.
    "(f) image 1 GiB, drawn as an image": {"build": "image_drawn_pdf"},
    "(f) image 1 GiB, as the page's content": {"build": "image_bomb_pdf"},
}
TRICKLING = {
    "slow headers (1 B / 0.5 s)": ("headers", 0.5),
    "slow body (1 B / 2.5 s)": ("body", 2.5),
}
FETCH_TIMEOUT = 3.0


def _children(pid: int) -> list[int]:
    try:
        listed = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(child) for child in listed]


def _peak_kib(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def measure(spec: dict[str, Any], *, limit: int, kill_after: float) -> dict[str, Any]:
    """One fresh child: wall seconds, peak RSS in MiB, and how it ended."""
    started = time.perf_counter()
    process = subprocess.Popen(
        fuzzing.isolated_command(spec, limit), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        env=fuzzing.child_env(), start_new_session=True,
    )  # fmt: skip
    peak = [0]
    workers: dict[int, int] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], _peak_kib(process.pid))
            for child in _children(process.pid):
                workers[child] = max(workers.get(child, 0), _peak_kib(child))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        out, _ = process.communicate(timeout=kill_after)
        ended = ""
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        out, _ = process.communicate()
        ended = f"killed after {kill_after:.0f} s"
    done.set()
    sampler.join()
    seconds = time.perf_counter() - started
    import json

    lines = out.decode("utf-8", "replace").strip().splitlines()
    outcome = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    if not ended:
        ended = _describe(outcome, process.returncode)
    children = max(outcome.get("children_maxrss_mb", 0), max(workers.values(), default=0) / 1024)
    return {"seconds": seconds, "rss_mb": peak[0] / 1024, "pool_mb": children, "ended": ended}


def _describe(outcome: dict[str, Any], returncode: int) -> str:
    if returncode < 0:
        return f"died of signal {-returncode}"
    if not outcome:
        return f"exit {returncode}, no outcome"
    if outcome["outcome"] == "result":
        return f"result, {len(outcome['pages'])} page(s), {outcome['calls']} request(s)"
    return f"{outcome['outcome']} {outcome.get('type', '')}, {outcome['calls']} request(s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--limit", type=int, default=fuzzing.MEMORY_LIMIT, help="RLIMIT_AS per child; 0 for none")
    parser.add_argument("--kill-after", type=float, default=60.0)
    parser.add_argument("--only", nargs="*", help="substrings of the case names to run")
    parser.add_argument("--memory-limit", type=int, help="render_memory_limit for every case (0: no sandbox)")
    parser.add_argument("--ratio-repeat", type=int, default=3, help="repetitions of the throughput ratio (0: skip)")
    args = parser.parse_args()
    names = [*CASES, *TRICKLING]
    if args.only:
        names = [name for name in names if any(part.lower() in name.lower() for part in args.only)]
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; cores: {os.cpu_count()}")
    limit = f"{args.limit / 1024**3:.2f} GiB" if args.limit else "none"
    print(f"address-space limit per child: {limit}; medians of {args.repeat}; Python {sys.version.split()[0]}")
    print(f"| {'file':<38} | {'wall s':>7} | {'peak RSS MiB':>12} | {'child MiB':>9} | outcome")
    print(f"|{'-' * 40}|{'-' * 9}|{'-' * 14}|{'-' * 11}|{'-' * 40}")
    for name in names:
        runs = [_run(name, args.limit, args.kill_after, args.memory_limit) for _ in range(args.repeat)]
        seconds = statistics.median(run["seconds"] for run in runs)
        rss = statistics.median(run["rss_mb"] for run in runs)
        pool = statistics.median(run["pool_mb"] for run in runs)
        endings = sorted({run["ended"] for run in runs})
        print(f"| {name:<38} | {seconds:7.2f} | {rss:12.0f} | {pool:9.0f} | {'; '.join(endings)}", flush=True)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.ratio_repeat:
        sandbox_ratio(args.ratio_repeat)


def _run(name: str, limit: int, kill_after: float, memory_limit: int | None) -> dict[str, Any]:
    extra = {} if memory_limit is None else {"render_memory_limit": memory_limit}
    if name in CASES:
        spec = {**CASES[name], "settings": {**CASES[name].get("settings", {}), **extra}}
        return measure(spec, limit=limit, kill_after=kill_after)
    part, interval = TRICKLING[name]
    with hostile_files.TricklingServer(part=part, interval=interval) as server:
        settings = {"fetch_timeout": FETCH_TIMEOUT, "allow_private_urls": True, **extra}
        return measure({"url": server.url, "settings": settings}, limit=limit, kill_after=kill_after)


def sandbox_ratio(repetitions: int) -> None:
    """Prints pages/s of the ordinary corpus PDFs rendered in the sandbox and in-process, and the ratio."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import render

    if not render.DEFAULT_CORPUS.is_dir():
        print(f"\n(corpus not found at {render.DEFAULT_CORPUS}; throughput ratio skipped)")
        return
    documents = render.corpus_pdfs(render.DEFAULT_CORPUS)
    print(f"\nload average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    approaches = {"sandboxed": render.ours, "in_process": render.ours_in_process}
    results = render.measure(documents, approaches, repetitions)
    for name, row in results.items():
        print(
            f"  {name:<11} {row['pages_per_s']:7.1f} pages/s  {row['cpu_ms_per_page']:6.2f} CPU ms/page (this process)"
        )
    ratio = results["sandboxed"]["pages_per_s"] / results["in_process"]["pages_per_s"]
    pages = int(results["sandboxed"]["pages"])
    print(f"sandbox / in-process throughput, {len(documents)} corpus PDFs ({pages} pages): {ratio:.2f}x")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
