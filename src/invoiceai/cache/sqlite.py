"""The default cache: one SQLite file in the user's cache directory, shared by threads and processes.

Why it is safe to share:

- **WAL mode** lets readers run while one process writes, and a process killed mid-write
  (even ``kill -9``) leaves every committed entry readable: a write commits atomically or
  not at all. ``synchronous=NORMAL`` keeps that guarantee against process crashes; only a
  power cut can lose the last few writes, which a cache can afford.
- **One connection per cache object, behind a lock.** SQLite calls take microseconds next to
  the seconds an extraction spends in the model, so threads simply take turns; other processes
  are kept apart by SQLite's own file locks, with ``busy_timeout`` and a retry loop for
  ``SQLITE_BUSY``. A forked child opens its own connection.
- **Damage is repaired, not fatal.** A file that is not a database, or whose pages are
  corrupted, is moved aside to ``<name>.corrupt-<time>-<pid>`` with a :class:`CacheWarning`
  and a fresh database takes its place: the extraction carries on with an empty cache.
- **Private.** The directory is created ``0700`` and the file ``0600`` (SQLite gives its
  ``-wal`` and ``-shm`` files the same mode), since cached results are invoice data. The cache
  only ever sees keys and extracted JSON, never an API key or a document.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from invoiceai.cache.base import CacheError, CacheWarning, StoredCache, check_key
from invoiceai.cache.breaker import CircuitBreaker
from invoiceai.errors import ConfigurationError

__all__ = ["DEFAULT_FILENAME", "SQLiteCache"]

DEFAULT_FILENAME = "cache.sqlite3"

# Marks a database as ours ("IAIC"), so a path pointing at someone else's database is refused
# rather than written into or moved aside.
_APPLICATION_ID = 0x49414943
_SCHEMA_VERSION = 1
_SCHEMA = (
    "CREATE TABLE entries (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL, stored_at REAL NOT NULL, "
    "expires_at REAL)",
    "CREATE INDEX entries_expires_at ON entries (expires_at) WHERE expires_at IS NOT NULL",
    f"PRAGMA application_id = {_APPLICATION_ID}",
    f"PRAGMA user_version = {_SCHEMA_VERSION}",
)

_T = TypeVar("_T")


class SQLiteCache(StoredCache):
    """A cache in one SQLite file, safe to share between threads and processes.

    Args:
        path: The database file, or a directory to put ``cache.sqlite3`` in. Defaults to
            ``Settings.cache_dir`` (``INVOICEAI_CACHE_DIR``, else the platform's user cache
            directory). Missing directories are created.
        timeout: Seconds to wait for another process's lock before failing with
            :class:`CacheError`.
        purge_interval: Expired entries are deleted on the first write and then every
            ``purge_interval`` writes; lookups never return them in between.
        clock: Wall-clock seconds (shared between processes); tests inject a fake one.
        breaker: Skips the cache for a while after repeated failures (a full disk, a lock held
            past ``timeout``); defaults to :class:`~invoiceai.cache.breaker.CircuitBreaker` ``()``.

    Raises:
        ConfigurationError: ``path`` is ``":memory:"`` (use :class:`MemoryCache`), or names
            a SQLite database that is not an invoiceai cache.
        CacheError: The file cannot be created or opened.
    """

    backend = "sqlite"

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        timeout: float = 30.0,
        purge_interval: int = 1000,
        clock: Callable[[], float] = time.time,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        if path is not None and os.fspath(path) == ":memory:":
            raise ConfigurationError("An in-memory SQLite cache is not shared; use MemoryCache() instead.")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        if purge_interval < 1:
            raise ValueError(f"purge_interval must be at least 1, got {purge_interval}")
        super().__init__(breaker=breaker)
        self.path = _resolve_path(path)
        self.timeout = timeout
        self.purge_interval = purge_interval
        self._clock = clock
        self._lock = threading.RLock()
        self._pid = os.getpid()
        self._conn: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None
        self._writes_until_purge = 0
        # Open now so that a bad path fails at construction, not in the middle of a batch.
        self._run(lambda conn: None, doing="open")

    # -- the Cache protocol -------------------------------------------------------------

    def _read(self, key: str) -> str | None:
        # An expired entry is never returned, even before a purge removes it. The value is read
        # as bytes: a damaged row that is not UTF-8 would make sqlite3 fail the whole query.
        def lookup(conn: sqlite3.Connection) -> bytes | None:
            row = conn.execute(
                "SELECT CAST(value AS BLOB) FROM entries WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)",
                (key, self._clock()),
            ).fetchone()
            return None if row is None or row[0] is None else bytes(row[0])

        raw = self._run(lookup, doing="read an entry")
        if raw is None:
            return None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            warnings.warn(
                f"An entry of the SQLite cache at {self.path} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                "it counts as a miss and the next result replaces it.",
                CacheWarning,
                stacklevel=5,  # the caller of get(), through the breaker
            )
            return None

    def _write(self, key: str, value: str, seconds: float | None) -> None:
        # One statement, so the new value and its expiry replace the old ones atomically.
        def store(conn: sqlite3.Connection) -> None:
            now = self._clock()
            expires_at = None if seconds is None else now + seconds
            conn.execute(
                "INSERT OR REPLACE INTO entries (key, value, stored_at, expires_at) VALUES (?, ?, ?, ?)",
                (key, value, now, expires_at),
            )

        self._run(store, doing="write an entry")
        with self._lock:
            self._writes_until_purge -= 1
            due = self._writes_until_purge <= 0
            if due:
                self._writes_until_purge = self.purge_interval
        if due:
            self.purge_expired()

    def delete(self, key: str) -> None:
        """Removes ``key`` if present."""
        check_key(key)
        self._run(lambda conn: conn.execute("DELETE FROM entries WHERE key = ?", (key,)), doing="delete an entry")

    def clear(self) -> None:
        """Removes every entry and gives the space back to the file system.

        Deleted invoice data should not linger in free pages, so the file is vacuumed and the
        write-ahead log truncated; if another process holds the database at that moment this
        step is skipped (the entries are gone either way).
        """
        self._run(lambda conn: conn.execute("DELETE FROM entries"), doing="clear")

        def compact(conn: sqlite3.Connection) -> None:
            # Waiting the full timeout for a busy batch would make `invoiceai cache clear` hang.
            conn.execute("PRAGMA busy_timeout = 1000")
            try:
                conn.execute("VACUUM")
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
            finally:
                conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")

        self._run(compact, doing="compact")

    def _describe(self) -> tuple[str, int | None, int | None]:
        # The live entry count, and the size of the database files (the WAL included).
        def count(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "SELECT count(*) FROM entries WHERE expires_at IS NULL OR expires_at > ?", (self._clock(),)
            ).fetchone()
            return int(row[0])

        entries = self._run(count, doing="count entries")
        size = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                size += os.stat(f"{self.path}{suffix}").st_size
        return str(self.path), entries, size

    def close(self) -> None:
        """Closes the connection; using the cache again reopens it."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    # -- extras -------------------------------------------------------------------------

    def purge_expired(self) -> int:
        """Deletes expired entries now and returns how many there were."""

        def purge(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "DELETE FROM entries WHERE expires_at IS NOT NULL AND expires_at <= ?", (self._clock(),)
            )
            return max(cursor.rowcount, 0)

        return self._run(purge, doing="purge expired entries")

    def __repr__(self) -> str:
        return f"SQLiteCache(path={str(self.path)!r})"

    # -- connection handling ------------------------------------------------------------

    def _run(self, operation: Callable[[sqlite3.Connection], _T], *, doing: str) -> _T:
        """Runs ``operation`` on the connection, retrying while busy and repairing a corrupt file once."""
        if self._pid != os.getpid():
            self._after_fork()
        deadline = time.monotonic() + self.timeout
        delay = 0.002
        repaired = False
        with self._lock:
            while True:
                try:
                    return operation(self._connection())
                except sqlite3.Error as exc:
                    if _is_corrupt(exc) and not repaired:
                        self._move_aside(exc)
                        repaired = True
                        continue
                    if _is_busy(exc) and time.monotonic() < deadline:
                        # busy_timeout already waited; SQLite skips it in a few cases (a read
                        # transaction upgrading, WAL recovery in another process), so back off here.
                        time.sleep(delay * (1 + random.random()))
                        delay = min(delay * 2, 0.1)
                        continue
                    raise self._error(doing, exc) from exc
                except (OSError, ValueError, OverflowError) as exc:
                    # OSError: the directory or file; ValueError/OverflowError: a value sqlite3
                    # cannot bind. Either way a typed error, never the dependency's own.
                    raise self._error(doing, exc) from exc

    def _connection(self) -> sqlite3.Connection:
        # Caller holds the lock.
        if self._conn is not None and self._identity == _identity(self.path):
            return self._conn
        # First use, or the file was deleted or replaced (by another process's repair, or by
        # hand): drop the old handle so writes go to the file that is at `path` now.
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        _create_private_file(self.path)
        conn = sqlite3.connect(str(self.path), timeout=self.timeout, isolation_level=None, check_same_thread=False)
        try:
            # Remembered before the file is checked: should it prove damaged, _move_aside must
            # move *this* file, not one another process has put in its place meanwhile.
            self._identity = _identity(self.path)
            _prepare(conn, self.path)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _move_aside(self, exc: sqlite3.Error) -> None:
        # Caller holds the lock.
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None
        current = _identity(self.path)
        if current is not None and self._identity is not None and current != self._identity:
            # Another process already repaired it; our handle pointed at the old file.
            return
        if current is not None and not _may_be_ours(self.path):
            raise ConfigurationError(
                f"{self.path} is not a SQLite database, so not an invoiceai cache; it is left alone. Choose "
                "another cache path (a new file, or one ending in .sqlite3)."
            ) from exc
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
        try:
            if current is not None:
                os.replace(self.path, aside)
            with contextlib.suppress(FileNotFoundError):
                os.replace(f"{self.path}-wal", f"{aside}-wal")
            with contextlib.suppress(FileNotFoundError):
                os.remove(f"{self.path}-shm")
        except OSError as move_error:
            raise CacheError(
                f"The SQLite cache at {self.path} is corrupted ({exc}) and could not be moved aside "
                f"({move_error}); delete it, or pass cache=None."
            ) from move_error
        self._identity = None
        warnings.warn(
            f"The SQLite cache at {self.path} was corrupted ({exc}); it was moved to {aside} and a new, "
            "empty cache was started.",
            CacheWarning,
            stacklevel=4,
        )

    def _after_fork(self) -> None:
        # The parent's connection must not be used (or closed) in the child, and the lock may
        # have been held by a thread that does not exist here.
        self._lock = threading.RLock()
        self._conn = None
        self._identity = None
        self._pid = os.getpid()

    def _error(self, doing: str, exc: BaseException) -> CacheError:
        blocking = next((parent for parent in self.path.parents if parent.is_file()), None)
        if isinstance(exc, sqlite3.Error) and _is_busy(exc):
            advice = f"another process held the database for more than {self.timeout:g} s; raise the timeout"
        elif blocking is not None:  # INVOICEAI_CACHE_DIR naming a file: "[Errno 17] File exists" says little
            advice = f"{blocking} is a file, not a directory; point INVOICEAI_CACHE_DIR (or cache=) at a directory"
        else:
            advice = "check that the directory is writable and the disk is not full"
        return CacheError(
            f"The SQLite cache at {self.path} could not {doing}: {exc}. Hint: {advice}, or pass cache=None."
        )


def _resolve_path(path: str | os.PathLike[str] | None) -> Path:
    if path is None:
        from invoiceai.config import Settings

        path = Settings.load().cache_dir / DEFAULT_FILENAME
    # Absolute, so that a later chdir() in the application cannot move the cache.
    resolved = Path(path).expanduser().absolute()
    return resolved / DEFAULT_FILENAME if resolved.is_dir() else resolved


def _create_private_file(path: Path) -> None:
    """Creates the directory (0700) and an empty database file (0600) unless they exist."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        # An empty file is a valid empty database; creating it ourselves is the only way to
        # choose its mode, since SQLite would create it with 0644 (minus the umask).
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def _prepare(conn: sqlite3.Connection, path: Path) -> None:
    """Checks the file is ours (creating the schema in an empty one), then sets the pragmas."""
    # Look before changing anything: switching to WAL rewrites the header, and a database
    # that is not ours must be left byte-for-byte alone.
    with _transaction(conn, "BEGIN"):  # one snapshot: another process may be creating the schema
        state = _schema_state(conn)
    if state == "empty":
        with _transaction(conn, "BEGIN IMMEDIATE"):
            state = _schema_state(conn)  # it may have been created meanwhile
            if state == "empty":
                # One statement at a time: executescript() would commit the transaction first.
                for statement in _SCHEMA:
                    conn.execute(statement)
                state = "ours"
    if state == "foreign":
        raise ConfigurationError(
            f"{path} is a SQLite database that is not an invoiceai cache; choose another cache path."
        )
    if state == "other-version":
        # Written by another version of invoiceai: treat it like a damaged file, which the
        # caller moves aside and replaces.
        raise sqlite3.DatabaseError("file is not a database (an invoiceai cache of another schema version)")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection, begin: str) -> Iterator[None]:
    conn.execute(begin)
    try:
        yield
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _schema_state(conn: sqlite3.Connection) -> str:
    """Tells an empty file, our schema, our schema in another version and someone else's database apart.

    Call it inside a transaction: another process may create the schema between its reads.
    """
    application_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if application_id == _APPLICATION_ID:
        return "ours" if version == _SCHEMA_VERSION else "other-version"
    has_tables = conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone() is not None
    return "foreign" if has_tables or application_id != 0 else "empty"


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino)


_DATABASE_SUFFIXES = frozenset({".sqlite3", ".sqlite", ".db"})
_SQLITE_MAGIC = b"SQLite format 3\x00"


def _may_be_ours(path: Path) -> bool:
    """Whether a damaged file at ``path`` may be moved aside: a SQLite file, or one named like a database.

    Anything else (``--cache invoices.csv``, ``/etc/passwd``) is someone's file that was never a
    cache: moving it away and putting a database in its place would lose it from where it belongs.
    """
    if path.suffix.lower() in _DATABASE_SUFFIXES:
        return True
    try:
        with open(path, "rb") as file:
            return file.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC
    except OSError:
        return True  # gone or unreadable: nothing of someone's to keep in place


def _error_name(exc: sqlite3.Error) -> str:
    return str(getattr(exc, "sqlite_errorname", ""))  # Python >= 3.11


def _is_corrupt(exc: sqlite3.Error) -> bool:
    name = _error_name(exc)
    message = str(exc).lower()
    return name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in message or "not a database" in message


def _is_busy(exc: sqlite3.Error) -> bool:
    name = _error_name(exc)
    message = str(exc).lower()
    return name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in message or "busy" in message
