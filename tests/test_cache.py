"""MemoryCache, the open_cache() factory and the package's import promises."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import invoiceai.cache
from cache_contract import Advance, CacheContract, FakeClock
from invoiceai.cache import Cache, CacheInfo, MemoryCache, RedisCache, SQLiteCache, open_cache
from invoiceai.config import Settings
from invoiceai.errors import ConfigurationError


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cache(clock: FakeClock) -> Iterator[MemoryCache]:
    with MemoryCache(clock=clock) as cache:
        yield cache


@pytest.fixture
def advance(clock: FakeClock) -> Advance:
    return clock.advance


class TestMemoryContract(CacheContract):
    pass


def test_memory_cache_evicts_the_least_recently_used_entry() -> None:
    cache = MemoryCache(max_entries=3)
    for key in "abc":
        cache.set(key, key)
    assert cache.get("a") == "a"  # now "b" is the least recently used
    cache.set("d", "d")
    assert cache.get("b") is None
    assert [cache.get(key) for key in "acd"] == ["a", "c", "d"]
    cache.set("c", "C")  # an overwrite counts as a use, and does not grow the cache
    cache.set("e", "e")
    assert cache.get("a") is None
    assert [cache.get(key) for key in "cde"] == ["C", "d", "e"]
    assert cache.info().entries == 3


def test_memory_cache_byte_count_follows_overwrites_and_evictions() -> None:
    cache = MemoryCache(max_entries=2)
    cache.set("a", "é" * 10)  # 20 bytes in UTF-8
    cache.set("a", "x" * 5)
    cache.set("b", "y" * 7)
    cache.set("c", "z" * 3)  # evicts "a"
    assert cache.info().size_bytes == 10


def test_memory_cache_rejects_a_capacity_below_one() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        MemoryCache(max_entries=0)


def test_open_cache_none_disables_caching() -> None:
    assert open_cache(None) is None


def test_open_cache_returns_a_cache_instance_as_is() -> None:
    cache = MemoryCache()
    assert open_cache(cache) is cache


def test_open_cache_memory() -> None:
    assert isinstance(open_cache("memory"), MemoryCache)


def test_open_cache_sqlite_uses_the_settings_cache_dir(tmp_path: Path) -> None:
    cache = open_cache("sqlite", settings=Settings(cache_dir=tmp_path / "dir"))
    assert isinstance(cache, SQLiteCache)
    with cache:
        assert cache.path == tmp_path / "dir" / "cache.sqlite3"
        assert cache.path.is_file()


def test_open_cache_sqlite_defaults_to_invoiceai_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOICEAI_CACHE_DIR", str(tmp_path / "from-env"))
    cache = open_cache("sqlite")
    assert isinstance(cache, SQLiteCache)
    with cache:
        assert cache.path == tmp_path / "from-env" / "cache.sqlite3"


@pytest.mark.parametrize("as_path", [True, False], ids=["pathlike", "str"])
def test_open_cache_path_gives_sqlite_at_that_file(tmp_path: Path, as_path: bool) -> None:
    target = tmp_path / "my.db"
    cache = open_cache(target if as_path else str(target))
    assert isinstance(cache, SQLiteCache)
    with cache:
        assert cache.path == target


def test_open_cache_redis_url_gives_a_redis_cache_without_connecting() -> None:
    cache = open_cache("redis://:hunter2-secret@127.0.0.1:1/0")
    assert isinstance(cache, RedisCache)
    assert "hunter2-secret" not in repr(cache)


@pytest.mark.parametrize(
    ("spec", "message"),
    [("", "empty"), ("   ", "empty"), ("http://user:hunter2@example.com/x", "not a cache URL"), (42, "int")],
)
def test_open_cache_refuses_what_it_cannot_open(spec: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        open_cache(spec)  # type: ignore[arg-type]
    assert "hunter2" not in str(caught.value)


def test_a_third_party_cache_satisfies_the_protocol() -> None:
    class DictCache:
        def __init__(self) -> None:
            self.data: dict[str, str] = {}

        def get(self, key: str) -> str | None:
            return self.data.get(key)

        def set(self, key: str, value: str, *, ttl: float | None = None) -> None:
            self.data[key] = value

        def delete(self, key: str) -> None:
            self.data.pop(key, None)

        def clear(self) -> None:
            self.data.clear()

        def info(self) -> CacheInfo:
            return CacheInfo(backend="dict", location="here", entries=len(self.data))

        def close(self) -> None:
            pass

        def __enter__(self) -> DictCache:
            return self

        def __exit__(self, *args: object) -> None:
            self.close()

    third_party: Cache = DictCache()
    assert open_cache(third_party) is third_party


def test_exported_names_do_not_drift() -> None:
    assert sorted(invoiceai.cache.__all__) == invoiceai.cache.__all__
    for name in invoiceai.cache.__all__:
        assert hasattr(invoiceai.cache, name), name


def test_importing_the_cache_package_does_not_import_redis() -> None:
    code = "import sys, invoiceai.cache; sys.exit(1 if 'redis' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
