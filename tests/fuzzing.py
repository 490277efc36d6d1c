"""Hostile inputs through the Extractor in child processes: one at a time, or fuzzed by the thousand.

A hostile file may take its process down (pdfium aborts when memory runs out; a page tree can
loop for minutes), so documents run in children under an address-space limit that the parent
kills after a bound. :func:`run_isolated` runs one document built by :mod:`hostile_files` (or a
URL) in a fresh process; :func:`campaign` mutates seed files with a seeded mutator and runs them in
worker processes, replacing a worker that hangs or dies. Every case is reproducible from its seed
and index; the extractor uses a FakeBackend whose history tells whether a request was sent::

    python -m tests.fuzzing --cases 20000 --seed 7             # from the project root
    python tests/fuzzing.py --seed 7 --only 1234 --save /tmp   # one case again, and its file
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:  # run as a script or with ``python -m tests.fuzzing``
    sys.path.insert(0, str(TESTS))

import hostile_files  # noqa: E402

MEMORY_LIMIT = 1024**3
"""The issue's address-space limit for a child: 1 GiB."""

__all__ = ["MEMORY_LIMIT", "Campaign", "Isolated", "campaign", "child_env", "isolated_command", "run_isolated"]


def child_env() -> dict[str, str]:
    """The environment for a child: the same invoiceai as this process, and the test helpers."""
    import invoiceai

    source = Path(invoiceai.__file__).resolve().parent.parent
    paths = [str(source), str(TESTS), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


# -- the mutator --------------------------------------------------------------------------------

# Tokens spliced into files: each one made some PDF reader misbehave somewhere (a filter on data
# that is not compressed, a length past the end, nesting, a negative or huge page count, loops).
TOKENS = (
    b"/Filter /FlateDecode ", b"/Filter [/FlateDecode /ASCIIHexDecode] ", b"/Filter /DCTDecode ",
    b"/Length 999999999 ", b"/Length -1 ", b"<< " * 64, b"[ " * 64, b"/Count -1 ", b"/Count 2147483647 ",
    b"/Kids [2 0 R 2 0 R] ", b"/Parent 3 0 R ", b"/Type /Pages ", b"/Width 65535 /Height 65535 ",
    b"/MediaBox [0 0 1e30 1e30] ", b"/Rotate 45 ", b"/Names [(factur-x.xml) 99 0 R] ", b"/AF [1 0 R] ",
    b"/EF << /F 1 0 R >> ", b"/Encrypt << /Filter /Standard /V 9 >> ", b"/Prev 0 ", b"/Size 2147483647 ",
    b"stream\n", b"endstream ", b"endobj ", b"xref\n0 1\n", b"trailer ", b"%%EOF\n", b"9999999999 0 R ",
    b"<!DOCTYPE x [<!ENTITY a 'a'>]>", b"<?xml version='1.0'?>", b"\x00" * 16, b"\xff" * 16,
)  # fmt: skip


def _flip(data: bytearray, rng: random.Random) -> bytearray:
    for _ in range(rng.randint(1, 16)):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    return data


def _truncate(data: bytearray, rng: random.Random) -> bytearray:
    return data[: rng.randrange(len(data))]


def _duplicate(data: bytearray, rng: random.Random) -> bytearray:
    start = rng.randrange(len(data))
    chunk = data[start : start + rng.randint(1, 4096)] * rng.choice((1, 1, 2, 16))
    at = rng.randrange(len(data) + 1)
    return data[:at] + chunk + data[at:]


def _delete(data: bytearray, rng: random.Random) -> bytearray:
    start = rng.randrange(len(data))
    return data[:start] + data[start + rng.randint(1, 4096) :]


def _splice(data: bytearray, rng: random.Random) -> bytearray:
    # Mostly right after a dictionary opens, where a key is syntactically plausible.
    openings = [i + 2 for i in range(len(data) - 1) if data[i : i + 2] == b"<<"][:5000]
    at = rng.choice(openings) if openings and rng.random() < 0.7 else rng.randrange(len(data) + 1)
    return data[:at] + rng.choice(TOKENS) + data[at:]


def _number(data: bytearray, rng: random.Random) -> bytearray:
    digits = [i for i in range(len(data)) if 48 <= data[i] <= 57][:20000]
    if not digits:
        return _flip(data, rng)
    at = rng.choice(digits)
    return data[:at] + rng.choice((b"0", b"-1", b"4294967297", b"99999999999999999999", b"1e308")) + data[at + 1 :]


MUTATIONS = (_flip, _truncate, _duplicate, _delete, _splice, _number)


def mutate(data: bytes, rng: random.Random) -> bytes:
    """Applies one to four random mutations (bit flips, truncation, chunk copies and deletions, token splices)."""
    out = bytearray(data or b"%")
    for _ in range(rng.randint(1, 4)):
        out = rng.choice(MUTATIONS)(out, rng) or bytearray(b"%")
    return bytes(out)


def make_case(seeds: list[tuple[str, Any]], seed: int, index: int) -> tuple[str, bytes, str | None]:
    """Case ``index`` of run ``seed``: the base file's name, the mutated bytes and a ``pages=`` selection."""
    rng = random.Random(f"{seed}:{index}")
    name, load = seeds[rng.randrange(len(seeds))]
    pages = rng.choice((None, None, None, "1", "2-3", "1,1,1"))
    return name, mutate(load(), rng), pages


def case_base(seeds: list[tuple[str, Any]], seed: int, index: int) -> str:
    """The name of the file case ``index`` of run ``seed`` mutates (without building the case)."""
    return seeds[random.Random(f"{seed}:{index}").randrange(len(seeds))][0]


def _limit_memory(limit: int) -> None:
    import resource

    if limit > 0:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def extract_outcome(
    source: Any,
    *,
    pages: str | None = None,
    settings: dict[str, Any] | None = None,
    use_async: bool = False,
    small: bool = True,
) -> dict[str, Any]:
    """Extracts ``source`` with a FakeBackend and no cache; returns what happened as JSON-ready data.

    ``outcome`` is ``"result"``, ``"error"`` (an ``InvoiceAIError``) or ``"untyped"`` (anything
    else, with its traceback); ``calls`` counts the backend requests, ``rendered`` the pages each
    request was given.
    """
    import asyncio
    import resource
    import traceback

    import invoiceai
    from documents_factory import example_invoice
    from invoiceai.pages import ImageBudget
    from invoiceai.testing import FakeBackend

    # Fuzzing renders at a small budget to stay cheap (pages are still parsed and rasterised in
    # full); the hostile-file tests use the default budget, which is what a real backend asks for.
    budget = ImageBudget(max_long_edge=400, max_pixels=120_000) if small else ImageBudget()
    backend = FakeBackend(default=example_invoice(), budget=budget)
    config = invoiceai.Settings.load(**(settings or {}))
    started = time.perf_counter()
    out: dict[str, Any]
    try:
        extractor = invoiceai.Extractor(backend=backend, cache=None, settings=config)
        with extractor:
            result = (
                asyncio.run(_aextract(extractor, source, pages))
                if use_async
                else extractor.extract(source, pages=pages)
            )
        out = {"outcome": "result", "origin": result.origin, "pages": list(result.pages), "warnings": result.warnings}
    except invoiceai.InvoiceAIError as exc:
        out = {"outcome": "error", "type": type(exc).__name__, "message": str(exc)[:400]}
    except Exception as exc:  # what the acceptance forbids: reported, never raised, so the run goes on
        out = {"outcome": "untyped", "type": f"{type(exc).__module__}.{type(exc).__qualname__}"}
        out.update(message=str(exc)[:400], traceback=traceback.format_exc()[-4000:])
    out["seconds"] = round(time.perf_counter() - started, 3)
    out["calls"] = len(backend.history)
    out["rendered"] = [len(call.pages) for call in backend.history]
    out["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    out["children_maxrss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    return out


async def _aextract(extractor: Any, source: Any, pages: str | None) -> Any:
    return await extractor.aextract(source, pages=pages)


def _one(spec: dict[str, Any]) -> dict[str, Any]:
    source: Any = spec.get("url")
    build_seconds = 0.0
    if source is None:
        started = time.perf_counter()
        source = hostile_files.BUILDERS[spec["build"]](**spec.get("args", {}))
        build_seconds = time.perf_counter() - started
    out = extract_outcome(
        source, pages=spec.get("pages"), settings=spec.get("settings"), use_async=spec.get("async", False), small=False
    )
    out["build_seconds"] = round(build_seconds, 3)
    return out


@dataclasses.dataclass
class Isolated:
    """What became of one child: its outcome dict (``None`` if killed or dead before printing one),
    its exit status (negative: a signal; -9 when the parent killed it after ``kill_after``), the
    parent's wall-clock seconds, whether it timed out, and its stderr.
    """

    outcome: dict[str, Any] | None
    returncode: int
    seconds: float
    timed_out: bool
    stderr: str

    def describe(self) -> str:
        """A one-paragraph account for assertion messages."""
        head = f"returncode={self.returncode} seconds={self.seconds:.1f} timed_out={self.timed_out}"
        return f"{head} outcome={self.outcome}\nstderr tail:\n{self.stderr[-1500:]}"


def isolated_command(spec: dict[str, Any], limit: int = MEMORY_LIMIT) -> list[str]:
    """The command that runs one document as :func:`run_isolated` does (for tools that watch the child)."""
    return [sys.executable, str(Path(__file__).resolve()), "--one", json.dumps(spec), "--limit", str(limit)]


def run_isolated(spec: dict[str, Any], *, kill_after: float = 30.0, limit: int = MEMORY_LIMIT) -> Isolated:
    """Runs one document in a fresh process under ``limit`` bytes of address space.

    Args:
        spec: ``{"build": <name in hostile_files.BUILDERS>, "args": {...}}`` or ``{"url": ...}``,
            plus optional ``"pages"``, ``"settings"`` (Settings overrides) and ``"async"``.
        kill_after: Seconds after which the child (and anything it started) is killed.
        limit: ``RLIMIT_AS`` for the child, in bytes; 0 for none.
    """
    command = isolated_command(spec, limit)
    started = time.perf_counter()
    # A session of its own, so a render pool the child started dies with it.
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env(), start_new_session=True
    )
    timed_out = False
    try:
        out, err = process.communicate(timeout=kill_after)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
    seconds = time.perf_counter() - started
    lines = out.decode("utf-8", "replace").strip().splitlines()
    outcome = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else None
    return Isolated(outcome, process.returncode, seconds, timed_out, err.decode("utf-8", "replace"))


@dataclasses.dataclass
class Campaign:
    """The records of a fuzzing run: case ``index`` is reproducible from ``(seed, index)`` alone."""

    seed: int
    cases: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def bad(self) -> list[dict[str, Any]]:
        """Cases that break the acceptance: untyped, hung, crashed, or a request for a failing input."""
        return [case for case in self.cases if _violation(case)]

    def summary(self, slowest: int = 10) -> str:
        """Cases, outcomes by type, violations and the slowest cases, as text."""
        kinds = Counter(_kind(case) for case in self.cases)
        lines = [f"seed {self.seed}: {len(self.cases)} cases"]
        lines += [f"  {count:6d}  {kind}" for kind, count in kinds.most_common()]
        noisy = sum(1 for case in self.cases if case.get("stderr_bytes"))
        lines.append(f"  cases that wrote to stderr: {noisy}")
        for case in self.bad()[:20]:
            lines.append(
                f"  VIOLATION {_violation(case)}: case {case['index']} ({case['base']}) {case.get('message', '')[:160]}"
            )
        lines.append("  slowest:")
        ranked = sorted(self.cases, key=lambda case: -case.get("seconds", 0.0))[:slowest]
        lines += [
            f"    {c.get('seconds', 0.0):7.2f}s  --seed {self.seed} --only {c['index']}  {c['base']}  {_kind(c)}"
            for c in ranked
        ]
        return "\n".join(lines)


def _kind(case: dict[str, Any]) -> str:
    if case["outcome"] == "result":
        return f"result ({case.get('origin')})"
    return f"{case['outcome']} {case.get('type', '')}".strip()


def _violation(case: dict[str, Any]) -> str:
    if case["outcome"] in ("untyped", "hang", "crash"):
        return case["outcome"]
    if case["outcome"] == "error" and case.get("calls"):
        return "request sent for a failing input"
    return ""


class _Worker:
    """A child that runs cases one at a time, reading indices on stdin and answering JSON lines."""

    def __init__(self, seed: int, limit: int, corpus: bool) -> None:
        command = [sys.executable, str(Path(__file__).resolve()), "--worker", f"--seed={seed}", f"--limit={limit}"]
        self.process = subprocess.Popen(
            [*command, *([] if corpus else ["--no-corpus"])], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, env=child_env(), start_new_session=True, text=True,
        )  # fmt: skip
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def run(self, index: int, timeout: float) -> dict[str, Any] | None:
        """The case's record, or ``None`` if the worker hung or died."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(f"{index}\n")
            self.process.stdin.flush()
            line = self.lines.get(timeout=timeout)
        except (OSError, queue.Empty):
            line = None
        return json.loads(line) if line else None

    def kill(self) -> int:
        """Kills the worker and everything it started; returns its exit status."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        return self.process.wait()


def campaign(
    cases: int, seed: int, *, timeout: float = 15.0, limit: int = MEMORY_LIMIT, corpus: bool = True, jobs: int = 1
) -> Campaign:
    """Runs cases ``0 .. cases - 1`` of ``seed`` in ``jobs`` worker processes and collects their records.

    A case that does not answer within ``timeout`` seconds is recorded as a hang, one whose worker
    dies as a crash (with the signal); the worker is then replaced.
    """
    seeds = hostile_files.seed_files(corpus)
    report = Campaign(seed)
    indices = iter(range(cases))
    lock = threading.Lock()

    def drive() -> None:
        worker = _Worker(seed, limit, corpus)
        try:
            while (index := next(indices, None)) is not None:
                started = time.perf_counter()
                record = worker.run(index, timeout)
                if record is None:
                    hung = worker.process.poll() is None
                    seconds = round(time.perf_counter() - started, 2)
                    record = {"index": index, "outcome": "hang" if hung else "crash", "returncode": worker.kill()}
                    record.update(seconds=seconds, base=case_base(seeds, seed, index))
                    worker = _Worker(seed, limit, corpus)
                with lock:
                    report.cases.append(record)
        finally:
            worker.kill()

    threads = [threading.Thread(target=drive) for _ in range(max(1, jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report.cases.sort(key=lambda case: case["index"])
    return report


def _worker_loop(seed: int, corpus: bool) -> None:
    import tempfile

    seeds = hostile_files.seed_files(corpus)
    # Answers go out on a private copy of stdout; during a case, fds 1 and 2 point at a fresh
    # file, so what the library prints neither corrupts the answers nor goes uncounted.
    answers = os.fdopen(os.dup(1), "w")
    for line in sys.stdin:
        index = int(line)
        name, data, pages = make_case(seeds, seed, index)
        with tempfile.TemporaryFile() as noise:
            saved = os.dup(1), os.dup(2)
            os.dup2(noise.fileno(), 1)
            os.dup2(noise.fileno(), 2)
            try:
                record = extract_outcome(data, pages=pages)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                for fd, copy in enumerate(saved, start=1):
                    os.dup2(copy, fd)
                    os.close(copy)
            record["stderr_bytes"] = noise.seek(0, os.SEEK_END)
        record.update(index=index, base=name, size=len(data))
        print(json.dumps(record), file=answers, flush=True)


def main(argv: list[str] | None = None) -> int:
    """The command line: a fuzzing run (the default), or the child modes ``--one`` and ``--worker``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tests.fuzzing", description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=2000, help="how many cases (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="the run's seed (default 0)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds before a case counts as a hang")
    parser.add_argument("--limit", type=int, default=MEMORY_LIMIT, help="address-space limit per child, bytes")
    parser.add_argument("--no-corpus", action="store_true", help="generated seed files only")
    parser.add_argument("--only", type=int, help="run one case in this process and print its record")
    parser.add_argument("--save", type=Path, help="with --only: also write the mutated file into this directory")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one is not None:
        _limit_memory(args.limit)
        print(json.dumps(_one(json.loads(args.one))), flush=True)
        return 0
    if args.worker:
        _limit_memory(args.limit)
        _worker_loop(args.seed, not args.no_corpus)
        return 0
    if args.only is not None:
        return _only(args.seed, args.only, not args.no_corpus, args.save)
    options = {"timeout": args.timeout, "limit": args.limit, "corpus": not args.no_corpus, "jobs": args.jobs}
    report = campaign(args.cases, args.seed, **options)
    print(report.summary())
    return 1 if report.bad() else 0


def _only(seed: int, index: int, corpus: bool, save: Path | None) -> int:
    name, data, pages = make_case(hostile_files.seed_files(corpus), seed, index)
    if save is not None:
        target = save / f"fuzz-{seed}-{index}.bin"
        target.write_bytes(data)
        print(f"wrote {target} (from {name}, pages={pages!r})", file=sys.stderr)
    record = extract_outcome(data, pages=pages)
    print(json.dumps({"index": index, "base": name, **record}, indent=2))
    return 1 if _violation(record) else 0


if __name__ == "__main__":
    sys.exit(main())
