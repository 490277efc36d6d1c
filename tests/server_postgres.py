"""A throwaway PostgreSQL for the job-store tests: Debian's binaries in a temp dir, on a free port.

Skips (with the reason) where PostgreSQL is not installed or cannot be started. As root, the
server runs as the ``postgres`` user (``initdb`` refuses root).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

BIN = Path(os.environ.get("INVOICEAI_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """Starts a PostgreSQL cluster and yields its SQLAlchemy URL; stops and deletes it after."""
    if not (BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL binaries not found in {BIN} (set INVOICEAI_PG_BIN)")
    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL as another user")
        prefix = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="invoiceai-pg-"))
    data = root / "data"
    if prefix:
        shutil.chown(root, "postgres")
    port = _free_port()
    try:
        subprocess.run([*prefix, str(BIN / "initdb"), "-D", str(data), "-U", "test", "-A", "trust"],
                       check=True, capture_output=True, timeout=120)  # fmt: skip
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run([*prefix, str(BIN / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-l", str(root / "log"),
                        "start"], check=True, capture_output=True, timeout=120)  # fmt: skip
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"PostgreSQL could not be started: {exc}")
    try:
        yield f"postgresql+psycopg://test@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, str(BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=120, check=False)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)
