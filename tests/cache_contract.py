"""The behaviour every Cache backend keeps, written once.

A backend's test module subclasses :class:`CacheContract` (as ``TestXxxContract``) and provides two
fixtures: ``cache``, a fresh empty cache, and ``advance``, a function that moves the cache's clock
forward by some seconds (a fake clock where the backend takes one; for Redis, whose expiry
happens in the server, the test's expiry times are moved earlier instead). No test waits.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

import pytest

from invoiceai.cache import Cache, CacheInfo

Advance = Callable[[float], None]


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class CacheContract:
    def test_is_a_cache(self, cache: Cache) -> None:
        assert isinstance(cache, Cache)

    def test_missing_key_is_none(self, cache: Cache) -> None:
        assert cache.get("absent") is None

    def test_set_then_get_round_trips_json_text_exactly(self, cache: Cache) -> None:
        value = json.dumps({"seller": "Müller & Söhne GmbH", "total": "1234.50", "emoji": "🧾"}, ensure_ascii=False)
        cache.set("k", value)
        assert cache.get("k") == value

    def test_keys_are_distinct(self, cache: Cache) -> None:
        cache.set("a", '"A"')
        cache.set("b", '"B"')
        assert (cache.get("a"), cache.get("b")) == ('"A"', '"B"')

    def test_a_corrupted_entry_is_overwritten(self, cache: Cache) -> None:
        # The Extractor treats an entry that fails to decode or validate as a miss and stores
        # the fresh result over it; the new value must win completely.
        cache.set("k", '{"total": "12.5", "trunc')
        cache.set("k", '{"total": "12.50"}')
        assert cache.get("k") == '{"total": "12.50"}'

    def test_delete_removes_only_that_key(self, cache: Cache) -> None:
        cache.set("a", "1")
        cache.set("b", "2")
        cache.delete("a")
        cache.delete("never-set")
        assert cache.get("a") is None
        assert cache.get("b") == "2"

    def test_clear_removes_every_entry(self, cache: Cache) -> None:
        for index in range(20):
            cache.set(f"k{index}", str(index))
        cache.clear()
        assert all(cache.get(f"k{index}") is None for index in range(20))
        assert cache.info().entries == 0
        cache.set("after", "1")
        assert cache.get("after") == "1"

    def test_expired_entries_are_never_returned(self, cache: Cache, advance: Advance) -> None:
        cache.set("short", "1", ttl=0.2)
        cache.set("forever", "2", ttl=None)
        cache.set("long", "3", ttl=3600)
        assert cache.get("short") == "1"
        advance(0.3)
        assert cache.get("short") is None
        assert cache.get("forever") == "2"
        assert cache.get("long") == "3"
        assert cache.info().entries == 2

    def test_zero_or_negative_ttl_removes_the_entry(self, cache: Cache) -> None:
        cache.set("a", "old")
        cache.set("a", "new", ttl=0)
        cache.set("b", "new", ttl=-5)
        assert cache.get("a") is None
        assert cache.get("b") is None

    def test_very_long_ttls_mean_practically_forever(self, cache: Cache) -> None:
        # A TTL past what a backend can store (Redis counts milliseconds in 64 bits) is no
        # reason to fail the write, or to raise OverflowError for one near the float limit.
        for index, ttl in enumerate((1e12, 1e17, 1e306, 1.7e308)):
            cache.set(f"k{index}", str(index), ttl=ttl)
            assert cache.get(f"k{index}") == str(index)

    def test_overwriting_replaces_the_ttl_too(self, cache: Cache, advance: Advance) -> None:
        cache.set("was-short", "1", ttl=0.2)
        cache.set("was-short", "2", ttl=None)
        cache.set("was-forever", "1", ttl=None)
        cache.set("was-forever", "2", ttl=0.2)
        advance(0.3)
        assert cache.get("was-short") == "2"
        assert cache.get("was-forever") is None

    def test_info_counts_entries_bytes_hits_and_misses(self, cache: Cache) -> None:
        value = json.dumps({"text": "x" * 10_000})
        cache.set("a", value)
        cache.set("b", "2")
        assert cache.get("a") == value
        assert cache.get("nope") is None
        info = cache.info()
        assert isinstance(info, CacheInfo)
        assert info.entries == 2
        assert info.size_bytes is not None
        assert info.size_bytes >= len(value)
        assert (info.hits, info.misses) == (1, 1)
        assert info.location
        assert json.dumps(info.to_dict())

    def test_rejects_values_that_are_not_text(self, cache: Cache) -> None:
        with pytest.raises(TypeError, match="JSON text"):
            cache.set("k", {"a": 1})  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="JSON text"):
            cache.set("k", b"{}")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="keys are str"):
            cache.get(b"k")  # type: ignore[arg-type]

    def test_large_values_round_trip(self, cache: Cache) -> None:
        value = json.dumps({"lines": [{"description": f"item {index}", "amount": "9.99"} for index in range(30_000)]})
        assert len(value) > 1_000_000
        cache.set("big", value)
        assert cache.get("big") == value

    def test_threads_share_one_cache(self, cache: Cache) -> None:
        errors: list[BaseException] = []

        def work(worker: int) -> None:
            try:
                for index in range(40):
                    key = f"t{worker}-{index}"
                    cache.set(key, json.dumps([worker, index]))
                    assert cache.get(key) == json.dumps([worker, index])
                    cache.get(f"t{(worker + 1) % 8}-{index}")
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(worker,)) for worker in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert cache.info().entries == 8 * 40

    def test_context_manager_returns_the_cache_and_closes_it(self, cache: Cache) -> None:
        with cache as entered:
            assert entered is cache
            entered.set("k", "1")
        cache.close()  # closing twice is allowed
