"""The batch store: one contract for memory, SQLite and Redis, and which store goes with which cache."""

from __future__ import annotations

import os
import stat
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from invoiceai.cache import MemoryCache, SQLiteCache
from invoiceai.cache.batch_store import (
    BatchStore,
    MemoryBatchStore,
    SQLiteBatchStore,
    batch_store_path,
    open_batch_store,
)
from invoiceai.cache.batch_store_redis import RedisBatchStore
from invoiceai.config import Settings
from invoiceai.errors import ConfigurationError
from test_cache_redis import redis_url  # noqa: F401 - the session's redis-server fixture


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BatchStore]:
    opened: BatchStore
    if request.param == "memory":
        opened = MemoryBatchStore()
    elif request.param == "sqlite":
        opened = SQLiteBatchStore(tmp_path / "jobs.sqlite3")
    else:
        url = request.getfixturevalue("redis_url")
        opened = RedisBatchStore(url, prefix=f"test-{uuid.uuid4().hex}:")
    yield opened
    opened.close()


def test_put_replaces_and_add_keeps(store: BatchStore) -> None:
    store.put("job1", {("meta", "job"): "{}", ("res", "a"): '"first"'})
    store.add("job1", {("res", "a"): '"second"', ("res", "b"): '"b"'})
    assert store.read("job1", "res") == {"a": '"first"', "b": '"b"'}
    store.put("job1", {("res", "a"): '"third"'})
    assert store.read("job1", "res")["a"] == '"third"'
    assert store.read("job1", "nothing") == {}
    assert store.read("other", "res") == {}


def test_jobs_are_those_with_a_meta_record_and_delete_removes_one(store: BatchStore) -> None:
    store.put("job-b", {("meta", "job"): "{}", ("doc", "0"): "{}"})
    store.put("job-a", {("meta", "job"): "{}"})
    store.put("no-meta", {("doc", "0"): "{}"})
    assert store.jobs() == ["job-a", "job-b"]
    store.delete("job-b")
    assert store.jobs() == ["job-a"]
    assert store.read("job-b", "doc") == {}


def test_a_lease_is_held_by_one_owner_until_released_or_expired(store: BatchStore) -> None:
    assert store.lease("job1", "a", 60)
    assert not store.lease("job1", "b", 60)  # a second collector is refused, never let in
    assert store.lease("job1", "a", 60)  # the owner renews
    assert store.lease("job2", "b", 60)  # leases are per job
    store.release("job1", "b")  # not b's to give back
    assert not store.lease("job1", "b", 60)
    store.release("job1", "a")
    assert store.lease("job1", "b", 0.001)
    expired = threading.Event()
    while not store.lease("job1", "c", 60):  # b's lease runs out on its own (a killed collector)
        expired.wait(0.001)
    store.delete("job1")
    assert store.lease("job1", "d", 60)  # delete removes the lease with the records


def test_values_keep_unicode(store: BatchStore) -> None:
    store.put("j", {("meta", "job"): '{"name": "Müller & Söhne €"}'})
    assert store.read("j", "meta") == {"job": '{"name": "Müller & Söhne €"}'}


def test_sqlite_store_is_private_and_shared_between_objects(tmp_path: Path) -> None:
    path = tmp_path / "private" / "jobs.sqlite3"
    first, second = SQLiteBatchStore(path), SQLiteBatchStore(path)
    first.put("j", {("meta", "job"): "{}"})
    assert second.jobs() == ["j"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    first.close()
    second.close()


def test_the_store_follows_the_cache(tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path / "default")
    default = open_batch_store(None, settings=settings)
    assert isinstance(default, SQLiteBatchStore)
    assert default.path == tmp_path / "default" / "cache-batches.sqlite3"
    sqlite = open_batch_store(SQLiteCache(tmp_path / "mine.db"), settings=settings)
    assert isinstance(sqlite, SQLiteBatchStore) and sqlite.path == batch_store_path(tmp_path / "mine.db")
    assert batch_store_path(tmp_path / "mine.db").name == "mine-batches.sqlite3"
    by_path = open_batch_store(str(tmp_path), settings=settings)
    assert isinstance(by_path, SQLiteBatchStore) and by_path.path.name == "cache-batches.sqlite3"
    assert isinstance(open_batch_store(MemoryCache(), settings=settings), MemoryBatchStore)
    given = MemoryBatchStore()
    assert open_batch_store(given) is given
    with pytest.raises(ConfigurationError, match="batch_store="):
        open_batch_store(object(), settings=settings)
    for opened in (default, sqlite, by_path):
        opened.close()


def test_redis_store_keeps_the_password_out_of_sight(redis_url: str) -> None:  # noqa: F811
    store = RedisBatchStore(redis_url, prefix=f"test-{uuid.uuid4().hex}:")
    password = redis_url.split(":")[2].split("@")[0]
    assert password not in repr(store) and password not in store.location
    store.close()


def test_one_record_is_read_and_records_are_discarded_alone(store: BatchStore) -> None:
    store.put("job1", {("meta", "job"): "{}", ("data", "0"): "AAAA", ("data", "1"): "BBBB", ("final", "0"): "{}"})
    assert store.get("job1", "data", "1") == "BBBB"
    assert store.get("job1", "data", "2") is None and store.get("other", "data", "1") is None
    store.discard("job1", [("data", "0"), ("data", "7")])  # one that does not exist is skipped
    assert store.read("job1", "data") == {"1": "BBBB"}
    assert store.read("job1", "final") == {"0": "{}"} and store.jobs() == ["job1"]
