"""The PDF sandbox and the process around it: forks, the environment, descriptors, dead idle workers.

Each test uses a memory limit of its own, so a pool of its own (``pool_for`` keeps one per limit).
The fork test forks a fresh interpreter, not this one (pytest's own threads must not be forked).
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from invoiceai.documents import Document
from invoiceai.errors import ConfigurationError
from invoiceai.pages import ImageBudget
from invoiceai.render.limits import RenderLimits
from invoiceai.render.pdf import PdfRenderer
from invoiceai.render.pdf.sandbox_pool import WorkerProcess, pool_for
from render_fixtures import build_pdf, invoice_page

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the sandbox's address-space limit is enforced on Linux only"
)

BUDGET = ImageBudget(max_long_edge=400, max_pixels=160_000)
MIB = 1024 * 1024
_LIMITS = itertools.count(1280 * MIB, 4096)
TESTS = Path(__file__).resolve().parent
SRC = TESTS.parent / "src"


def fresh_limits(**overrides: Any) -> RenderLimits:
    return RenderLimits(render_memory_limit=next(_LIMITS), **overrides)


def invoice(*numbers: int) -> Document:
    return Document.from_bytes(build_pdf([invoice_page(number) for number in numbers or (1,)]))


def killed(pid: int) -> None:
    """Kills a worker behind the pool's back and waits until it has exited (without reaping it)."""
    os.kill(pid, signal.SIGKILL)
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)


def pipes(pid: int | str) -> set[str]:
    """The pipes a process holds open (``pipe:[inode]``)."""
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("pipe:"):
            found.add(target)
    return found


def test_a_worker_killed_while_idle_is_not_the_next_documents_fault() -> None:
    # The kernel's OOM killer picks the idle worker: the next, innocent document must not fail.
    limits = fresh_limits()
    renderer = PdfRenderer(limits=limits)
    renderer.open(invoice(1)).close()
    pool = pool_for(limits.render_memory_limit)
    (dead,) = pool.idle_pids
    killed(dead)
    assert [page.index for page in renderer.open(invoice(1, 2)).render(BUDGET)] == [0, 1]
    assert dead not in pool.pids


def test_a_reused_worker_found_dead_at_its_first_request_is_replaced_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # The same, when the worker dies just after the pool looked: the first request finds it dead.
    limits = fresh_limits()
    renderer = PdfRenderer(limits=limits)
    renderer.open(invoice(1)).close()
    pool = pool_for(limits.render_memory_limit)
    (dead,) = pool.idle_pids
    killed(dead)
    monkeypatch.setattr(WorkerProcess, "alive", lambda self: True)
    source = renderer.open(invoice(1, 2))
    assert source.total_pages == 2
    assert [page.index for page in source.render(BUDGET)] == [0, 1]
    assert dead not in pool.pids


def test_the_worker_gets_none_of_this_processs_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-canary-in-the-environment")
    monkeypatch.setenv("INVOICEAI_CACHE", "redis://:canary-password@cache:6379/0")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    limits = fresh_limits()
    PdfRenderer(limits=limits).open(invoice(1)).close()
    (pid,) = pool_for(limits.render_memory_limit).idle_pids
    with open(f"/proc/{pid}/environ", "rb") as raw:
        environment = dict(entry.split(b"=", 1) for entry in raw.read().split(b"\0") if b"=" in entry)
    assert b"canary" not in b"".join(environment.values())
    assert {b"ANTHROPIC_API_KEY", b"INVOICEAI_CACHE"}.isdisjoint(environment)
    assert environment[b"LC_ALL"] == b"C.UTF-8"  # what Python needs to run as this process does is kept
    assert environment[b"MALLOC_ARENA_MAX"] == b"2"


def test_a_worker_that_cannot_start_leaks_no_descriptor(monkeypatch: pytest.MonkeyPatch) -> None:
    # EMFILE on the second pipe of a worker, as when the process is at its descriptor limit.
    real_pipe = os.pipe
    calls = itertools.count(1)

    def pipe() -> tuple[int, int]:
        if next(calls) % 2 == 0:
            raise OSError(24, "Too many open files")
        return real_pipe()

    renderer = PdfRenderer(limits=fresh_limits())
    document = invoice(1)
    before = len(os.listdir("/proc/self/fd"))
    monkeypatch.setattr(os, "pipe", pipe)
    for _ in range(3):
        with pytest.raises(ConfigurationError, match="could not be started"):
            renderer.open(document)
    monkeypatch.setattr(os, "pipe", real_pipe)
    assert len(os.listdir("/proc/self/fd")) == before


FORK_SCRIPT = """
import json, os, sys
from invoiceai.documents import Document
from invoiceai.render.limits import RenderLimits
from invoiceai.render.pdf import PdfRenderer
from invoiceai.render.pdf.sandbox_pool import pool_for
from render_fixtures import build_pdf, invoice_page
from test_render_sandbox_process import pipes

LIMIT = int(sys.argv[1])
renderer = PdfRenderer(limits=RenderLimits(render_memory_limit=LIMIT))
mine = renderer.open(Document.from_bytes(build_pdf([invoice_page(1)])))  # opened before the fork
(parent_worker,) = pool_for(LIMIT).idle_pids
read, write = os.pipe()
child = os.fork()
if child == 0:
    os.close(read)
    theirs = renderer.open(Document.from_bytes(build_pdf([invoice_page(2), invoice_page(3)])))
    seen = {
        "shares_pipes": bool(pipes("self") & pipes(parent_worker)),
        "own_text": theirs.text_layers()[0],
        "inherited_text": mine.text_layers()[0],
        "workers": pool_for(LIMIT).idle_pids,
    }
    os.write(write, json.dumps(seen).encode())
    os._exit(0)
os.close(write)
_, status = os.waitpid(child, 0)
with os.fdopen(read) as answer:
    seen = json.loads(answer.read())
seen.update(
    status=status,
    parent_worker=parent_worker,
    parent_text=mine.text_layers()[0],
    parent_workers=pool_for(LIMIT).idle_pids,
)
print(json.dumps(seen))
"""


def test_a_forked_child_uses_workers_of_its_own_and_leaves_the_parents_alone() -> None:
    # After os.fork() both processes held the same worker pipes and read each other's answers.
    limit = next(_LIMITS)
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(TESTS)])}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(FORK_SCRIPT), str(limit)],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen["status"] == 0
    assert not seen["shares_pipes"]  # the child closed its copies of the parent's pipe ends
    assert "INV-0002" in seen["own_text"]
    assert "INV-0001" in seen["inherited_text"]  # a source opened before the fork works in the child
    assert seen["parent_worker"] not in seen["workers"]  # on a worker of the child's own
    assert "INV-0001" in seen["parent_text"]
    assert seen["parent_workers"] == [seen["parent_worker"]]  # the parent's worker lived on, and served it
