"""The service's fleet, for tests and benchmarks/service.py: an API process and Celery worker processes.

Everything runs on 127.0.0.1: ``invoiceai serve --broker`` (uvicorn) and ``invoiceai worker``
processes, each in its own temporary directory with its own cache directory, against a PostgreSQL
job store, a Redis broker, a Redis result cache, and the fake Claude API of ``invoiceai.testing``
served on a loopback port (so processes reach it, and it counts every model call). Each worker
sends its own API key, so the fake can tell which worker called it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

import invoiceai

SOURCE = str(Path(invoiceai.__file__).resolve().parents[1])
"""The ``src`` directory the child processes import invoiceai from (this checkout's)."""


def worker_key(number: int) -> str:
    """The API key worker ``number`` sends to the fake (the fake accepts any key)."""
    return f"sk-ant-api03-fleet-worker-{number}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class FleetProcess:
    """One process of the fleet, in its own session (so its whole group can be killed)."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        """SIGKILL: no cleanup, no acknowledgement, like a machine that dies."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 20 s."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, size: int = 3000) -> str:
        return self.log.read_text("utf-8", "replace")[-size:] if self.log.exists() else ""


@dataclass
class Fleet:
    """The running fleet: the API's base URL and every process."""

    base_url: str
    api: FleetProcess
    workers: list[FleetProcess] = field(default_factory=list)

    def client(self, timeout: float = 120) -> httpx2.Client:
        return httpx2.Client(base_url=self.base_url, timeout=timeout)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.log_tail()}" for p in [self.api, *self.workers])


def _spawn(name: str, argv: list[str], directory: Path, env: Mapping[str, str]) -> FleetProcess:
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "invoiceai", *argv], cwd=directory, env=dict(env), stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    return FleetProcess(name, process, log)


def fleet_environment(
    *, database_url: str, broker_url: str, cache_url: str, fake_url: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment every process of the fleet shares."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("INVOICEAI_", "ANTHROPIC_"))}
    env.update(
        PYTHONPATH=SOURCE,
        ANTHROPIC_BASE_URL=fake_url,
        INVOICEAI_SERVER_DATABASE_URL=database_url,
        INVOICEAI_SERVER_BROKER_URL=broker_url,
        INVOICEAI_SERVER_CACHE=cache_url,
        OMP_THREAD_LIMIT="1",
        # The fleet's documents are generated PNGs: OCR for their provenance (on by default when the
        # ocr extra is installed) would measure Tesseract, not the fleet. The OCR tests cover OCR.
        INVOICEAI_OCR="off",
    )
    env.update(extra or {})
    return env


@contextlib.contextmanager
def running_fleet(
    root: Path, env: Mapping[str, str], *, workers: int = 2, concurrency: int = 4, ready_timeout: float = 60
) -> Iterator[Fleet]:
    """Starts the API and ``workers`` worker processes; stops them all after the block."""
    port = free_port()
    api_env = {**env, "INVOICEAI_CACHE_DIR": str(root / "api" / "cache"), "ANTHROPIC_API_KEY": worker_key(-1)}
    api = _spawn("api", ["serve", "--host", "127.0.0.1", "--port", str(port), "--no-auth"], root / "api", api_env)
    fleet = Fleet(f"http://127.0.0.1:{port}", api)
    try:
        for number in range(workers):
            directory = root / f"worker-{number}"
            own = {"INVOICEAI_CACHE_DIR": str(directory / "cache"), "ANTHROPIC_API_KEY": worker_key(number)}
            worker_env = {**env, **own}
            argv = ["worker", "--concurrency", str(concurrency), "--loglevel", "WARNING"]
            fleet.workers.append(_spawn(f"worker-{number}", argv, directory, worker_env))
        wait_until_ready(fleet, ready_timeout)
        yield fleet
    finally:
        for process in [*fleet.workers, api]:
            process.stop()


def wait_until_ready(fleet: Fleet, timeout: float) -> None:
    """Polls ``/readyz`` until it answers 200 (the API is another process: nothing to wait on but its port)."""
    deadline = time.monotonic() + timeout
    with httpx2.Client(base_url=fleet.base_url, timeout=5) as api:
        while time.monotonic() < deadline:
            if fleet.api.process.poll() is not None:
                raise RuntimeError(f"the API process exited:\n{fleet.logs()}")
            with contextlib.suppress(httpx2.TransportError):
                if api.get("/readyz").status_code == 200:
                    return
            time.sleep(0.1)
    raise RuntimeError(f"the API was not ready within {timeout} s:\n{fleet.logs()}")


def peak_rss_kib(pid: int) -> int:
    """The process's peak resident set (``VmHWM``), in KiB; 0 when it is gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process has used so far, in seconds; 0 when it is gone."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def batch_files(documents: list[bytes]) -> list[tuple[str, Any]]:
    """Multipart ``file`` fields for a batch, ``doc-<n>.png`` in order."""
    return [("file", (f"doc-{n}.png", data, "image/png")) for n, data in enumerate(documents)]
