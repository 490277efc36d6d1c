"""SQLiteCache: the contract, plus files, permissions, expiry, locking and damage repair."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import stat
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cache_contract import Advance, CacheContract, FakeClock
from invoiceai.cache import CacheError, CacheWarning, CircuitBreaker, SQLiteCache
from invoiceai.errors import ConfigurationError

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "cache.sqlite3"


@pytest.fixture
def cache(db_path: Path, clock: FakeClock) -> Iterator[SQLiteCache]:
    with SQLiteCache(db_path, clock=clock) as cache:
        yield cache


@pytest.fixture
def advance(clock: FakeClock) -> Advance:
    return clock.advance


class TestSQLiteContract(CacheContract):
    pass


def rows(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT key, value, expires_at FROM entries ORDER BY key").fetchall()


def fill(path: Path, count: int) -> None:
    with SQLiteCache(path) as cache:
        for index in range(count):
            cache.set(f"k{index}", json.dumps({"index": index, "text": "x" * 500}))


# -- files --------------------------------------------------------------------------------


def test_entries_persist_across_instances(db_path: Path) -> None:
    with SQLiteCache(db_path) as first:
        first.set("k", '{"a": 1}', ttl=3600)
    with SQLiteCache(db_path) as second:
        assert second.get("k") == '{"a": 1}'


def test_default_path_is_in_the_settings_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOICEAI_CACHE_DIR", str(tmp_path / "here"))
    with SQLiteCache() as cache:
        assert cache.path == tmp_path / "here" / "cache.sqlite3"
        assert cache.path.is_file()


def test_a_directory_path_gets_the_default_file_name(tmp_path: Path) -> None:
    with SQLiteCache(tmp_path) as cache:
        assert cache.path == tmp_path / "cache.sqlite3"


def test_relative_paths_are_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with SQLiteCache("rel.db") as cache:
        assert cache.path == tmp_path / "rel.db"
        assert repr(cache) == f"SQLiteCache(path={str(tmp_path / 'rel.db')!r})"


@posix_only
def test_files_are_private_to_the_user(db_path: Path) -> None:
    old_umask = os.umask(0o022)  # a typical umask would give 0644 files
    try:
        with SQLiteCache(db_path) as cache:
            cache.set("k", "1")
            files = [db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")]
            modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in files}
    finally:
        os.umask(old_umask)
    assert modes == {path.name: 0o600 for path in files}
    assert stat.S_IMODE(db_path.parent.stat().st_mode) == 0o700


def test_wal_mode(cache: SQLiteCache) -> None:
    with sqlite3.connect(cache.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_file_holds_only_keys_values_and_times(cache: SQLiteCache) -> None:
    with sqlite3.connect(cache.path) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(entries)")]
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    assert tables == ["entries"]
    assert columns == ["key", "value", "stored_at", "expires_at"]


def test_in_memory_databases_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="MemoryCache"):
        SQLiteCache(":memory:")


def test_an_unusable_path_is_a_cache_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(CacheError, match="could not open"):
        SQLiteCache(blocker / "cache.sqlite3")


def test_a_deleted_file_is_recreated(cache: SQLiteCache) -> None:
    cache.set("k", "1")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{cache.path}{suffix}").unlink(missing_ok=True)
    assert cache.get("k") is None
    cache.set("k", "2")
    assert rows(cache.path) == [("k", "2", None)]


def test_usable_again_after_close(cache: SQLiteCache) -> None:
    cache.set("k", "1")
    cache.close()
    assert cache.get("k") == "1"


# -- expiry -------------------------------------------------------------------------------


def test_expired_rows_are_purged_on_the_first_write_and_then_periodically(db_path: Path, clock: FakeClock) -> None:
    with SQLiteCache(db_path, clock=clock, purge_interval=3) as cache:
        cache.set("old", "1", ttl=10)  # first write: purges (nothing yet)
        clock.advance(11)
        assert [row[0] for row in rows(db_path)] == ["old"]  # expired but still stored: lazy
        assert cache.get("old") is None
        cache.set("a", "1")
        cache.set("b", "1")
        assert [row[0] for row in rows(db_path)] == ["a", "b", "old"]
        cache.set("c", "1")  # the third write since the last purge
        assert [row[0] for row in rows(db_path)] == ["a", "b", "c"]


def test_purge_expired_returns_the_count(cache: SQLiteCache, clock: FakeClock) -> None:
    cache.set("a", "1", ttl=5)
    cache.set("b", "1", ttl=50)
    cache.set("c", "1")
    clock.advance(10)
    assert cache.purge_expired() == 1
    assert cache.info().entries == 2


def test_expiry_is_shared_across_instances(db_path: Path, clock: FakeClock) -> None:
    with SQLiteCache(db_path, clock=clock) as writer:
        writer.set("k", "1", ttl=60)
    clock.advance(61)
    with SQLiteCache(db_path, clock=clock) as reader:
        assert reader.get("k") is None


def test_clear_removes_the_data_from_the_file(cache: SQLiteCache) -> None:
    secret = "IBAN DE89370400440532013000 " * 20
    for index in range(50):
        cache.set(f"k{index}", json.dumps(secret))
    cache.clear()
    cache.close()
    on_disk = b"".join(
        Path(f"{cache.path}{suffix}").read_bytes() for suffix in ("", "-wal") if Path(f"{cache.path}{suffix}").exists()
    )
    assert b"DE89370400440532013000" not in on_disk


# -- locking ------------------------------------------------------------------------------


def test_waits_for_another_writer_then_succeeds(db_path: Path) -> None:
    fill(db_path, 1)
    blocker = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    writing = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with SQLiteCache(db_path, timeout=60) as cache:
                writing.set()
                cache.set("k", "1")
        except BaseException as exc:
            errors.append(exc)
            writing.set()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert writing.wait(60)
        # While the other connection holds the write lock, the write cannot have completed: the
        # writer is still waiting (or about to), whatever the scheduling. Releasing it now lets it through.
        writer.join(0.2)
        assert writer.is_alive() and errors == []
    finally:
        blocker.execute("COMMIT")
        writer.join()
        blocker.close()
    assert errors == []
    with SQLiteCache(db_path) as cache:
        assert cache.get("k") == "1"


def test_a_lock_held_past_the_timeout_is_a_cache_error(db_path: Path) -> None:
    fill(db_path, 1)
    with SQLiteCache(db_path, timeout=0.2) as cache:
        blocker = sqlite3.connect(db_path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(CacheError, match="raise the timeout") as caught:
                cache.set("k", "1")
            assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        cache.set("k", "1")  # usable once the lock is gone
        assert cache.get("k") == "1"


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork()")
# Python 3.12+ warns about forking a process with threads (pytest-xdist's); forking is the point here.
@pytest.mark.filterwarnings("ignore:.*use of fork\\(\\) may lead to deadlocks:DeprecationWarning")
def test_a_forked_child_opens_its_own_connection(cache: SQLiteCache) -> None:
    cache.set("parent", "1")
    context = multiprocessing.get_context("fork")

    def child() -> None:
        cache.set("child", cache.get("parent") or "missing")
        cache.close()

    process = context.Process(target=child)
    process.start()
    process.join(30)
    assert process.exitcode == 0
    assert cache.get("child") == "1"
    cache.set("parent-again", "1")


# -- damage -------------------------------------------------------------------------------


def asides(path: Path) -> list[Path]:
    return sorted(aside for aside in path.parent.glob(f"{path.name}.corrupt-*") if not aside.name.endswith("-wal"))


def test_a_file_that_is_not_a_database_is_moved_aside(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    garbage = b"this is not a database, it is a shopping list\n" * 200
    db_path.write_bytes(garbage)
    with pytest.warns(CacheWarning, match="moved to"):
        cache = SQLiteCache(db_path)  # opening reads the header, which is garbage
    with cache:
        assert cache.get("k") is None
        cache.set("k", "1")
        assert cache.get("k") == "1"
    [aside] = asides(db_path)
    assert aside.read_bytes() == garbage
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_corrupted_pages_are_detected_on_use_and_the_file_replaced(db_path: Path) -> None:
    fill(db_path, 200)
    with sqlite3.connect(db_path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(db_path.read_bytes())
    # Keep the header page (so the file still opens as a database); scramble every other page.
    data[page_size:] = bytes((index * 151 + 7) % 256 for index in range(len(data) - page_size))
    db_path.write_bytes(bytes(data))

    cache = SQLiteCache(db_path)  # opening only reads the header page, which is intact
    with pytest.warns(CacheWarning, match="corrupted"):
        assert cache.get("k1") is None
    cache.set("k1", "fresh")
    assert cache.get("k1") == "fresh"
    assert cache.info().entries == 1
    cache.close()
    assert len(asides(db_path)) == 1
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_write_to_a_corrupted_file_lands_in_the_new_one(db_path: Path) -> None:
    fill(db_path, 50)
    with sqlite3.connect(db_path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(db_path.read_bytes())
    data[4096:] = b"\xff" * (len(data) - 4096)
    db_path.write_bytes(bytes(data))
    cache = SQLiteCache(db_path)
    with pytest.warns(CacheWarning, match="corrupted"):
        cache.set("k", "1")
    assert cache.get("k") == "1"
    cache.close()


def test_someone_elses_database_is_refused_and_left_alone(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    with sqlite3.connect(db_path) as conn:
        conn.execute("CREATE TABLE users (name TEXT)")
    before = db_path.read_bytes()
    with pytest.raises(ConfigurationError, match="not an invoiceai cache"):
        SQLiteCache(db_path)
    assert db_path.read_bytes() == before
    assert asides(db_path) == []


def test_a_cache_of_another_schema_version_is_moved_aside(db_path: Path) -> None:
    fill(db_path, 3)
    with sqlite3.connect(db_path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.warns(CacheWarning, match="another schema version"):
        cache = SQLiteCache(db_path)
    with cache:
        assert cache.get("k1") is None
    assert len(asides(db_path)) == 1


def test_a_file_another_process_already_repaired_is_not_moved_aside_again(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # After an upgrade every worker finds a cache of another schema version at once. The first
    # to look moves it aside, starts a fresh one and writes results into it; a worker whose own
    # open failed on the old file must not then move the *fresh* one aside, losing those writes.
    import invoiceai.cache.sqlite as sqlite_module

    fill(db_path, 3)
    with sqlite3.connect(db_path) as conn:
        conn.execute("PRAGMA user_version = 99")
    real_prepare = sqlite_module._prepare
    others: list[SQLiteCache] = []
    raced: list[bool] = []

    def prepare_while_another_worker_repairs(conn: sqlite3.Connection, path: Path) -> None:
        try:
            real_prepare(conn, path)
        except sqlite3.DatabaseError:
            if not raced:  # the late worker's open failed; now the other one gets in first
                raced.append(True)
                others.append(SQLiteCache(db_path))  # moves the old file aside, opens a fresh one
                others[0].set("written-by-the-other-worker", '"kept"')
            raise

    monkeypatch.setattr(sqlite_module, "_prepare", prepare_while_another_worker_repairs)
    with pytest.warns(CacheWarning, match="another schema version"):
        late = SQLiteCache(db_path)
    with late, others[0] as other:
        assert late.get("written-by-the-other-worker") == '"kept"'
        assert other.get("written-by-the-other-worker") == '"kept"'
    assert len(asides(db_path)) == 1


# -- damaged rows, and the breaker ------------------------------------------------------------


def test_a_row_that_is_not_utf8_is_a_miss_with_a_warning_and_gets_replaced(cache: SQLiteCache, db_path: Path) -> None:
    # sqlite3 would fail the whole query ("Could not decode to UTF-8"), which read as a cache
    # outage and counted against the breaker; it is one damaged row.
    cache.set("k", '{"total": "1.00"}')
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE entries SET value = CAST(x'7b22ff227d' AS TEXT) WHERE key = 'k'")
    with pytest.warns(CacheWarning, match="not UTF-8 text") as caught:
        assert cache.get("k") is None
    assert caught[0].filename == __file__
    cache.set("k", '{"total": "2.00"}')
    assert cache.get("k") == '{"total": "2.00"}'
    assert cache.breaker.state == "closed"


def test_a_value_with_a_lone_surrogate_is_a_cache_error_not_a_unicode_error(cache: SQLiteCache) -> None:
    with pytest.raises(CacheError, match="lone surrogate"):
        cache.set("k", json.loads('"\\ud800"'))
    with pytest.raises(CacheError, match="lone surrogate"):
        cache.get("\udfff")


def test_a_cache_that_keeps_failing_is_skipped_with_one_warning(tmp_path: Path) -> None:
    clock = FakeClock()
    cache = SQLiteCache(tmp_path / "c.sqlite3", breaker=CircuitBreaker(threshold=2, cooldown=10, clock=clock))
    (tmp_path / "c.sqlite3").unlink()
    (tmp_path / "c.sqlite3").mkdir()  # the file is now a directory: every call fails
    with pytest.raises(CacheError):
        cache.get("k")
    with pytest.warns(CacheWarning, match="skipped for 10 s"), pytest.raises(CacheError):
        cache.set("k", "1")
    assert cache.get("k") is None
    cache.set("k", "1")  # dropped, not raised
    (tmp_path / "c.sqlite3").rmdir()
    clock.advance(10)
    cache.set("k", "1")  # the probe works: the cache is back
    assert cache.get("k") == "1"
    cache.close()
