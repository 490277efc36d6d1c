"""SQLiteCache under stress: 4 processes writing and reading at once, one of them killed with SIGKILL.

Each worker process runs this file as a script. After every successful ``set`` it appends the key
to its own report file, so after the run the test knows exactly which writes completed, including
the killed worker's, and checks that every one of them is readable and intact.

The processes are ordered by pipes, not by polling with sleeps: each worker writes a byte to the
"ready" pipe once its cache is open and then blocks reading its stdin until the test says go; the
victim writes a byte to the "progress" pipe after its ``KILL_AFTER``-th write, which is when the
test kills it.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import select
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from invoiceai.cache import SQLiteCache

PROCESSES = 4
WRITES = 200  # per surviving worker; the victim writes until it is killed
VICTIM = 0
KILL_AFTER = WRITES // 2  # completed writes of the victim before the kill: mid-run for everyone
TIMEOUT = 60.0


def expected_value(key: str) -> str:
    """The value a worker stores under ``key``: derived from the key, so any reader can check it."""
    digest = hashlib.sha256(key.encode()).hexdigest()
    return json.dumps({"key": key, "lines": [{"description": digest, "amount": f"{index}.99"} for index in range(40)]})


def worker(db: Path, reports: Path, number: int, writes: int, ready: int, progress: int) -> int:
    """Writes ``writes`` entries (0: until killed), reading its own and other workers' entries in between.

    ``ready`` and ``progress`` are the write ends of the test's pipes (see the module docstring).
    """
    rng = random.Random(number)
    report = os.open(reports / f"done-{number}.txt", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    cache = SQLiteCache(db, timeout=TIMEOUT)
    os.write(ready, b"r")
    if sys.stdin.buffer.read(1) != b"g":  # blocks until the test says go
        return 5
    started = time.perf_counter()
    reads = 0
    index = 0
    while writes == 0 or index < writes:
        key = f"w{number}-{index}"
        cache.set(key, expected_value(key), ttl=3600)
        # One write(2) per line on an O_APPEND descriptor: the line is in the file even if
        # the process is killed right after, and never half-written.
        os.write(report, f"{key}\n".encode())
        if cache.get(key) != expected_value(key):
            print(f"worker {number}: read back a different value for {key}", file=sys.stderr)
            return 3
        for _ in range(2):
            other = f"w{rng.randrange(PROCESSES)}-{rng.randrange(index + 1)}"
            value = cache.get(other)
            reads += 1
            if value is not None and value != expected_value(other):
                print(f"worker {number}: {other} holds a value that is not what was written", file=sys.stderr)
                return 4
        index += 1
        if number == VICTIM and index == KILL_AFTER:
            os.write(progress, b"p")
    elapsed = time.perf_counter() - started
    cache.close()
    print(json.dumps({"worker": number, "writes": index, "reads": reads, "seconds": elapsed}))
    return 0


class Workers:
    """The worker processes, with their output in files (pipes could fill up and block them)."""

    def __init__(self, db: Path, directory: Path) -> None:
        self.directory = directory
        self.processes: list[subprocess.Popen[bytes]] = []
        self.ready, ready_end = os.pipe()
        self.progress, progress_end = os.pipe()
        try:
            for number in range(PROCESSES):
                writes = 0 if number == VICTIM else WRITES
                with (
                    (directory / f"worker-{number}.out").open("wb") as out,
                    (directory / f"worker-{number}.err").open("wb") as err,
                ):
                    arguments = [str(db), str(directory), str(number), str(writes), str(ready_end), str(progress_end)]
                    command = [sys.executable, __file__, *arguments]
                    self.processes.append(
                        subprocess.Popen(
                            command, stdin=subprocess.PIPE, stdout=out, stderr=err, pass_fds=(ready_end, progress_end)
                        )
                    )
        finally:
            # Only the workers hold the write ends now: a pipe reads as closed once they are all gone.
            os.close(ready_end)
            os.close(progress_end)

    def output(self, number: int) -> str:
        return (self.directory / f"worker-{number}.out").read_text()

    def errors(self, number: int) -> str:
        return (self.directory / f"worker-{number}.err").read_text()

    def wait_for(self, pipe: int, signals: int, what: str, deadline: float) -> None:
        """Blocks until ``signals`` bytes arrived on ``pipe``, failing at once if a worker died instead."""
        received = 0
        while received < signals:
            # Woken by a byte; the short timeout only serves to notice a worker that died.
            readable, _, _ = select.select([pipe], [], [], 0.5)
            if readable:
                received += len(os.read(pipe, signals - received))
                continue
            for number, process in enumerate(self.processes):
                if process.poll() not in (None, 0):
                    raise AssertionError(f"worker {number} exited with {process.returncode}: {self.errors(number)}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")

    def go(self) -> None:
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.write(b"g")
            process.stdin.close()

    def kill_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        os.close(self.ready)
        os.close(self.progress)


def completed(reports: Path, number: int) -> list[str]:
    path = reports / f"done-{number}.txt"
    text = path.read_text() if path.exists() else ""
    # Only whole lines: a line is written in one call, but be strict anyway.
    return text.splitlines() if text.endswith("\n") else text.splitlines()[:-1]


@pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL semantics of POSIX")
def test_four_processes_share_the_cache_and_survive_a_kill_9(tmp_path: Path) -> None:
    db = tmp_path / "cache.sqlite3"
    deadline = time.monotonic() + 120
    workers = Workers(db, tmp_path)
    processes = workers.processes
    try:
        workers.wait_for(workers.ready, PROCESSES, "workers to start", deadline)
        started = time.perf_counter()
        workers.go()
        workers.wait_for(workers.progress, 1, "the victim's writes", deadline)
        survivors_running = [processes[n].poll() is None for n in range(PROCESSES) if n != VICTIM]
        processes[VICTIM].kill()  # SIGKILL: no cleanup, no atexit, locks dropped by the kernel
        processes[VICTIM].wait()
        outputs = {}
        for number, process in enumerate(processes):
            if number == VICTIM:
                continue
            process.wait(timeout=max(deadline - time.monotonic(), 1))
            assert process.returncode == 0, f"worker {number} failed: {workers.errors(number)}"
            outputs[number] = json.loads(workers.output(number))
        elapsed = time.perf_counter() - started
    finally:
        workers.kill_all()

    assert any(survivors_running), "the kill came after the other workers had finished: not mid-run"
    assert all(outputs[n]["writes"] == WRITES for n in outputs)

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]

    keys = [key for number in range(PROCESSES) for key in completed(tmp_path, number)]
    victim_writes = len(completed(tmp_path, VICTIM))
    assert victim_writes >= KILL_AFTER
    assert len(keys) == (PROCESSES - 1) * WRITES + victim_writes
    with SQLiteCache(db) as cache:
        unreadable = [key for key in keys if cache.get(key) != expected_value(key)]
        assert unreadable == []
        entries = cache.info().entries
    # The victim may have committed one last write that it was killed before reporting.
    assert entries in (len(keys), len(keys) + 1)

    reads = sum(outputs[n]["reads"] for n in outputs)
    print(
        f"\nSQLite stress: {len(keys)} completed writes ({victim_writes} by the killed worker) and at least "
        f"{reads} reads by {PROCESSES} processes in {elapsed:.2f} s = {len(keys) / elapsed:.0f} writes/s; "
        f"all {len(keys)} completed writes verified after kill -9, integrity_check ok"
    )


if __name__ == "__main__":
    db_arg, reports_arg, number_arg, writes_arg, ready_arg, progress_arg = sys.argv[1:7]
    sys.exit(
        worker(Path(db_arg), Path(reports_arg), int(number_arg), int(writes_arg), int(ready_arg), int(progress_arg))
    )
