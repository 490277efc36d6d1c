"""Where Message Batches jobs keep their state: :class:`BatchStore` and its memory and SQLite backends.

A batch job outlives the process that submitted it: another process (or machine) collects it
hours later, and a collector killed half-way must lose nothing and resubmit nothing. So every fact
a job learns is written here as soon as it is known, and everything else is rebuilt from these
facts. The store is deliberately dumb: records of JSON text under ``(job, kind, key)``; what the
kinds mean is :mod:`invoiceai.extractor.batch_state`'s business.

The contract every backend keeps:

- **Atomic groups.** :meth:`BatchStore.put` and :meth:`BatchStore.add` write all their records or
  none (one SQLite transaction, one Redis ``MULTI``), so a kill between two records of a group
  (a batch id and the requests it holds) cannot leave half a fact.
- **Idempotent writes.** :meth:`~BatchStore.put` replaces, :meth:`~BatchStore.add` keeps the
  record already there: results are added, so storing the same result twice changes nothing.
- **Durable.** SQLite commits each group (WAL, ``synchronous=NORMAL``: safe against a killed
  process); Redis is as durable as the server is configured to be.
- **Synchronous and thread-safe**, like the caches.
- **Leases.** :meth:`BatchStore.lease` gives one collector at a time the right to replay a job
  and submit its follow-ups (a SQLite row taken under ``BEGIN IMMEDIATE``, a Redis
  ``SET NX PX`` key, a dict entry under a lock in memory). A lease expires on its own, so a
  collector that was killed blocks the job only until then, or not at all when the caller can
  tell that the holder is gone (``stale``: a process of this machine that no longer runs).

Which store a job uses follows the result cache (:func:`open_batch_store`): the SQLite cache's
file gets a ``-batches`` sibling, a Redis cache's server keeps the jobs under its own prefix, and
the in-memory cache an in-memory store. The Redis store is in :mod:`invoiceai.cache.batch_store_redis`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from invoiceai.errors import CacheError, ConfigurationError

if TYPE_CHECKING:
    from invoiceai.config import Settings

__all__ = [
    "BatchStore",
    "MemoryBatchStore",
    "Records",
    "SQLiteBatchStore",
    "Stale",
    "batch_store_path",
    "open_batch_store",
]

Records = Mapping[tuple[str, str], str]
"""``{(kind, key): JSON text}``: one atomic group of records of one job."""

Stale = Callable[[str], bool]
"""Given a lease holder, tells whether it is known to be gone (so its lease may be taken over)."""

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS batch_records (job TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, "
    "value TEXT NOT NULL, PRIMARY KEY (job, kind, key))"
)
_LEASES = "CREATE TABLE IF NOT EXISTS batch_leases (job TEXT PRIMARY KEY, owner TEXT NOT NULL, expires REAL NOT NULL)"
_META = "meta"


@runtime_checkable
class BatchStore(Protocol):
    """Durable records of batch jobs; see the module docstring for the contract."""

    location: str
    """Where the records live (a file path, a server URL without its password, ...)."""

    def put(self, job: str, records: Records) -> None:
        """Writes ``records`` of ``job`` at once, replacing records with the same kind and key."""
        ...

    def add(self, job: str, records: Records) -> None:
        """Writes ``records`` of ``job`` at once, keeping any record that already exists."""
        ...

    def read(self, job: str, kind: str) -> dict[str, str]:
        """Returns every record of ``kind`` of ``job``: ``{key: JSON text}`` (empty for none)."""
        ...

    def get(self, job: str, kind: str, key: str) -> str | None:
        """Returns one record of ``job``, or ``None`` when there is none."""
        ...

    def discard(self, job: str, names: Iterable[tuple[str, str]]) -> None:
        """Removes the records ``(kind, key)`` of ``job`` at once (those that do not exist are skipped)."""
        ...

    def jobs(self) -> list[str]:
        """Returns the ids of every job that has a ``meta`` record, sorted."""
        ...

    def delete(self, job: str) -> None:
        """Removes every record of ``job`` (and its lease)."""
        ...

    def lease(self, job: str, owner: str, seconds: float, *, stale: Stale | None = None) -> bool:
        """Takes, or renews, the lease on ``job`` for ``owner`` for ``seconds``.

        Args:
            job: The job.
            owner: Who takes it (unique per collector).
            seconds: How long it lasts unless renewed.
            stale: Tells whether another holder is known to be gone; its lease is then taken over.

        Returns:
            ``False`` when another owner holds a lease that has not expired; nothing changes then.
        """
        ...

    def release(self, job: str, owner: str) -> None:
        """Gives the lease on ``job`` back, if ``owner`` holds it."""
        ...

    def close(self) -> None:
        """Releases files and connections; safe to call twice."""
        ...


class MemoryBatchStore:
    """Records in this process: for tests and notebooks (a job cannot outlive the process)."""

    location = "memory"

    def __init__(self) -> None:
        self._records: dict[str, dict[tuple[str, str], str]] = {}
        self._leases: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryBatchStore(jobs={len(self._records)})"

    def put(self, job: str, records: Records) -> None:
        """Writes ``records``, replacing existing ones."""
        with self._lock:
            self._records.setdefault(job, {}).update(records)

    def add(self, job: str, records: Records) -> None:
        """Writes ``records``, keeping existing ones."""
        with self._lock:
            stored = self._records.setdefault(job, {})
            for name, value in records.items():
                stored.setdefault(name, value)

    def read(self, job: str, kind: str) -> dict[str, str]:
        """Returns the records of ``kind``."""
        with self._lock:
            return {key: value for (found, key), value in self._records.get(job, {}).items() if found == kind}

    def get(self, job: str, kind: str, key: str) -> str | None:
        """Returns one record, or ``None``."""
        with self._lock:
            return self._records.get(job, {}).get((kind, key))

    def discard(self, job: str, names: Iterable[tuple[str, str]]) -> None:
        """Removes records."""
        with self._lock:
            stored = self._records.get(job, {})
            for name in names:
                stored.pop(name, None)

    def jobs(self) -> list[str]:
        """Returns the jobs with a ``meta`` record."""
        with self._lock:
            return sorted(job for job, records in self._records.items() if any(k == _META for k, _ in records))

    def delete(self, job: str) -> None:
        """Removes the job."""
        with self._lock:
            self._records.pop(job, None)
            self._leases.pop(job, None)

    def lease(self, job: str, owner: str, seconds: float, *, stale: Stale | None = None) -> bool:
        """Takes or renews the lease unless another owner holds one that has not expired."""
        now = time.monotonic()
        with self._lock:
            holder, expires = self._leases.get(job, (owner, now))
            if holder != owner and expires > now and not (stale is not None and stale(holder)):
                return False
            self._leases[job] = (owner, now + seconds)
            return True

    def release(self, job: str, owner: str) -> None:
        """Drops the lease if ``owner`` holds it."""
        with self._lock:
            if self._leases.get(job, ("", 0.0))[0] == owner:
                del self._leases[job]

    def close(self) -> None:
        """Nothing to release: the records stay for the life of the object."""


class SQLiteBatchStore:
    """Records in one SQLite file (WAL), shared by threads and processes.

    Args:
        path: The database file; its directory is created ``0700`` and the file ``0600``, like
            the cache's, since results are invoice data.
        timeout: Seconds to wait for another process's write lock.

    Raises:
        CacheError: The file cannot be created or opened.
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 30.0) -> None:
        self.path = Path(path).expanduser().absolute()
        self.location = str(self.path)
        self._timeout = timeout
        self._lock = threading.RLock()
        self._pid = os.getpid()
        self._conn: sqlite3.Connection | None = None
        with self._connection():
            pass  # a bad path fails here, not in the middle of a job

    def __repr__(self) -> str:
        return f"SQLiteBatchStore(path={self.location!r})"

    def put(self, job: str, records: Records) -> None:
        """Writes ``records`` in one transaction, replacing existing ones."""
        self._write("INSERT OR REPLACE", job, records)

    def add(self, job: str, records: Records) -> None:
        """Writes ``records`` in one transaction, keeping existing ones."""
        self._write("INSERT OR IGNORE", job, records)

    def read(self, job: str, kind: str) -> dict[str, str]:
        """Returns the records of ``kind``."""
        with self._connection() as conn:
            rows = conn.execute("SELECT key, value FROM batch_records WHERE job = ? AND kind = ?", (job, kind))
            return {str(key): str(value) for key, value in rows.fetchall()}

    def get(self, job: str, kind: str, key: str) -> str | None:
        """Returns one record, or ``None``."""
        with self._connection() as conn:
            row = conn.execute(
                "SELECT value FROM batch_records WHERE job = ? AND kind = ? AND key = ?", (job, kind, key)
            ).fetchone()
            return None if row is None else str(row[0])

    def discard(self, job: str, names: Iterable[tuple[str, str]]) -> None:
        """Removes records in one transaction."""
        rows = [(job, kind, key) for kind, key in names]
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany("DELETE FROM batch_records WHERE job = ? AND kind = ? AND key = ?", rows)
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def jobs(self) -> list[str]:
        """Returns the jobs with a ``meta`` record."""
        with self._connection() as conn:
            rows = conn.execute("SELECT DISTINCT job FROM batch_records WHERE kind = ? ORDER BY job", (_META,))
            return [str(row[0]) for row in rows.fetchall()]

    def delete(self, job: str) -> None:
        """Removes the job."""
        with self._connection() as conn:
            conn.execute("DELETE FROM batch_records WHERE job = ?", (job,))
            conn.execute("DELETE FROM batch_leases WHERE job = ?", (job,))

    def lease(self, job: str, owner: str, seconds: float, *, stale: Stale | None = None) -> bool:
        """Takes or renews the lease in one ``BEGIN IMMEDIATE`` transaction (wall-clock expiry)."""
        now = time.time()
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute("SELECT owner, expires FROM batch_leases WHERE job = ?", (job,)).fetchone()
                free = row is None or row[0] == owner or float(row[1]) <= now or (stale is not None and stale(row[0]))
                if free:
                    conn.execute(
                        "INSERT OR REPLACE INTO batch_leases (job, owner, expires) VALUES (?, ?, ?)",
                        (job, owner, now + seconds),
                    )
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return free

    def release(self, job: str, owner: str) -> None:
        """Deletes the lease row if ``owner`` holds it."""
        with self._connection() as conn:
            conn.execute("DELETE FROM batch_leases WHERE job = ? AND owner = ?", (job, owner))

    def close(self) -> None:
        """Closes the connection; using the store again reopens it."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def _write(self, verb: str, job: str, records: Records) -> None:
        rows = [(job, kind, key, value) for (kind, key), value in records.items()]
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(f"{verb} INTO batch_records (job, kind, key, value) VALUES (?, ?, ?, ?)", rows)
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._open()
            except (sqlite3.Error, OSError) as exc:
                raise CacheError(
                    f"The batch store at {self.location} could not be used: {exc}. Hint: check that the directory "
                    "is writable and the disk is not full."
                ) from exc

    def _open(self) -> sqlite3.Connection:
        # Caller holds the lock. A forked child must not use the parent's connection.
        if self._pid != os.getpid():
            self._conn, self._pid = None, os.getpid()
        if self._conn is not None:
            return self._conn
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        conn = sqlite3.connect(str(self.path), timeout=self._timeout, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(_SCHEMA)
            conn.execute(_LEASES)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn


def batch_store_path(cache_file: str | os.PathLike[str]) -> Path:
    """Returns where the batch store of the SQLite cache at ``cache_file`` lives: a ``-batches`` sibling."""
    path = Path(cache_file).expanduser().absolute()
    return path.with_name(f"{path.stem}-batches.sqlite3")


def open_batch_store(spec: Any, *, settings: Settings | None = None) -> BatchStore:
    """Returns the batch store that goes with a result cache.

    Args:
        spec: A :class:`BatchStore` (returned as is); what ``cache=`` takes (``None`` and
            ``"sqlite"`` mean the default cache's file, a path the SQLite cache there, ``"memory"``
            a new in-memory store, a ``redis://`` URL that server); or an open built-in cache.
        settings: Where the default cache lives (``settings.cache_dir``).

    Raises:
        ConfigurationError: ``spec`` is a cache whose batch store cannot be derived (a third-party
            cache, or a :class:`~invoiceai.cache.RedisCache` built from a client): pass a store.
    """
    from invoiceai.cache.memory import MemoryCache
    from invoiceai.cache.sqlite import DEFAULT_FILENAME, SQLiteCache

    if isinstance(spec, BatchStore):
        return spec
    if spec is None or spec == "sqlite":
        from invoiceai.config import Settings

        return SQLiteBatchStore(batch_store_path((settings or Settings.load()).cache_dir / DEFAULT_FILENAME))
    if isinstance(spec, SQLiteCache):
        return SQLiteBatchStore(batch_store_path(spec.path))
    if isinstance(spec, MemoryCache) or spec == "memory":
        return MemoryBatchStore()
    if isinstance(spec, str) and "://" in spec:
        from invoiceai.cache.batch_store_redis import RedisBatchStore

        return RedisBatchStore(spec)
    if isinstance(spec, (str, os.PathLike)):
        path = Path(spec).expanduser().absolute()
        return SQLiteBatchStore(batch_store_path(path / DEFAULT_FILENAME if path.is_dir() else path))
    raise ConfigurationError(
        f"Batch jobs cannot keep their state in a {type(spec).__name__}; pass batch_store= "
        "(a SQLiteBatchStore, or a RedisBatchStore for a fleet)."
    )
