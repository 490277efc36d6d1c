"""MemoryCache, the cache registry, the open_cache() factory and the package's import promises."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import invoiceai.cache
from cache_contract import Advance, CacheContract, FakeClock
from invoiceai.cache import Cache, CacheInfo, CacheRegistry, MemoryCache, RedisCache, SQLiteCache, open_cache
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


class DictCache:
    """A third-party cache: only the methods, no base class."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url
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


def test_a_third_party_cache_satisfies_the_protocol() -> None:
    third_party: Cache = DictCache()
    assert open_cache(third_party) is third_party


# --- the registry ----------------------------------------------------------------------------


def test_the_built_in_caches_are_registered_by_reference() -> None:
    registry = CacheRegistry.with_builtins()
    assert registry.names() == ("memory", "redis", "sqlite")
    assert registry.reference("sqlite") == "invoiceai.cache.sqlite:SQLiteCache"
    assert registry.schemes() == {"redis": "redis", "rediss": "redis", "unix": "redis"}
    assert isinstance(registry.open("MEMORY"), MemoryCache)


def test_a_registered_cache_opens_by_name_and_by_its_scheme() -> None:
    registry = CacheRegistry.with_builtins()
    registry.register("dict", DictCache)
    by_name = registry.open("dict")
    assert isinstance(by_name, DictCache)
    assert by_name.url is None
    by_url = registry.open("dict://somewhere/0")
    assert isinstance(by_url, DictCache)
    assert by_url.url == "dict://somewhere/0"
    with pytest.raises(ConfigurationError, match="not a cache URL"):
        CacheRegistry.with_builtins().open("dict://somewhere/0")  # a fresh registry does not know it
    registry.unregister("dict")
    assert "dict" not in registry.schemes()
    with pytest.raises(ConfigurationError, match="not a cache URL"):
        registry.open("dict://somewhere/0")


def test_a_url_scheme_belongs_to_one_cache() -> None:
    registry = CacheRegistry.with_builtins()
    with pytest.raises(ConfigurationError, match="redis:// already opens the 'redis' cache"):
        registry.register("my-redis", DictCache, schemes=["redis"])
    assert "my-redis" not in registry
    registry.register("my-redis", DictCache, schemes=["redis"], replace=True)
    opened = registry.open("redis://127.0.0.1:1/0")
    assert isinstance(opened, DictCache)
    registry.register("my-redis", DictCache, schemes=["myredis"], replace=True)
    assert registry.schemes()["myredis"] == "my-redis"
    assert registry.schemes()["rediss"] == "redis"
    assert "redis" not in registry.schemes()  # given up by the replaced registration


def test_a_cache_factory_must_return_a_cache() -> None:
    registry = CacheRegistry()
    registry.register("dict", dict)
    with pytest.raises(ConfigurationError, match="returned dict, which is not a Cache"):
        registry.open("dict")


def test_the_extractor_opens_its_cache_from_its_registry() -> None:
    from invoiceai.extractor import Extractor
    from invoiceai.testing import FakeBackend

    registry = CacheRegistry.with_builtins()
    registry.register("dict", DictCache)
    with Extractor(backend=FakeBackend(), cache="dict", caches=registry) as extractor:
        assert isinstance(extractor.cache, DictCache)
    with Extractor(backend=FakeBackend(), cache="memory") as extractor:
        assert isinstance(extractor.cache, MemoryCache)


def test_cache_plugins_load_from_entry_points_on_opt_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dist = tmp_path / "dict_cache_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: dict-cache-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[invoiceai.caches]\ndictcache = test_cache:DictCache\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "dictcache" not in CacheRegistry.with_builtins()
    registry = CacheRegistry.with_builtins(entry_points=True)
    assert registry.reference("dictcache") == "test_cache:DictCache"
    opened = registry.open("dictcache://here")
    assert type(opened).__name__ == "DictCache"


def test_exported_names_do_not_drift() -> None:
    assert sorted(invoiceai.cache.__all__) == invoiceai.cache.__all__
    for name in invoiceai.cache.__all__:
        assert hasattr(invoiceai.cache, name), name


def test_importing_the_cache_package_does_not_import_redis() -> None:
    code = "import sys, invoiceai.cache; sys.exit(1 if 'redis' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
