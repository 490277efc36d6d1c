"""The circuit breaker in front of the built-in caches: its states, and how a cache uses it.

Time is a fake clock; nothing here waits. The real thing (a hung redis-server, a socket that never
answers) is in test_cache_redis.py.
"""

from __future__ import annotations

import threading
import warnings

import pytest

from cache_contract import FakeClock
from invoiceai.cache import CacheError, CacheWarning, CircuitBreaker, MemoryCache
from invoiceai.cache.base import StoredCache


class FlakyCache(StoredCache):
    """A cache whose storage fails while ``down`` is set, and counts what reached it."""

    backend = "flaky"

    def __init__(self, breaker: CircuitBreaker) -> None:
        super().__init__(breaker=breaker)
        self.down = True
        self.calls = 0
        self.entries: dict[str, str] = {}

    def _read(self, key: str) -> str | None:
        self._touch()
        return self.entries.get(key)

    def _write(self, key: str, value: str, seconds: float | None) -> None:
        self._touch()
        self.entries[key] = value

    def _touch(self) -> None:
        self.calls += 1
        if self.down:
            raise CacheError("The flaky cache could not answer.")

    def delete(self, key: str) -> None:
        self.entries.pop(key, None)

    def clear(self) -> None:
        self.entries.clear()

    def close(self) -> None:
        pass

    def _describe(self) -> tuple[str, int | None, int | None]:
        return "here", len(self.entries), None


def test_a_new_breaker_is_closed_and_lets_calls_through() -> None:
    breaker = CircuitBreaker()
    assert (breaker.state, breaker.allow()) == ("closed", True)
    assert (breaker.threshold, breaker.cooldown) == (3, 30.0)


def test_it_opens_after_the_threshold_and_probes_once_after_the_cooldown() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=2, cooldown=10, clock=clock)
    assert breaker.failed() is False  # one failure is not a pattern
    assert breaker.failed() is True  # the second opens it, and says so once
    assert (breaker.state, breaker.allow()) == ("open", False)
    clock.advance(9.9)
    assert breaker.allow() is False
    clock.advance(0.1)
    assert breaker.state == "half-open"
    assert breaker.allow() is True  # the probe
    assert breaker.allow() is False  # everyone else waits for its verdict
    assert breaker.failed() is False  # a failed probe keeps it open without a second announcement
    assert breaker.allow() is False
    clock.advance(10)
    assert breaker.allow() is True
    breaker.succeeded()
    assert (breaker.state, breaker.allow()) == ("closed", True)


def test_a_success_resets_the_count() -> None:
    breaker = CircuitBreaker(threshold=2)
    breaker.failed()
    breaker.succeeded()
    assert breaker.failed() is False
    assert breaker.state == "closed"


def test_an_abandoned_probe_lets_the_next_caller_probe() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=1, cooldown=1, clock=clock)
    breaker.failed()
    clock.advance(1)
    assert breaker.allow() is True
    breaker.abandoned()
    assert breaker.allow() is True


@pytest.mark.parametrize(
    ("threshold", "cooldown"), [(0, 1.0), (True, 1.0), (1.5, 1.0), (1, -1.0), (1, float("nan")), (1, "1")]
)
def test_nonsense_settings_are_refused(threshold: object, cooldown: object) -> None:
    with pytest.raises(ValueError, match=r"threshold|cooldown"):
        CircuitBreaker(threshold, cooldown)  # type: ignore[arg-type]


def test_a_failing_cache_is_skipped_after_the_threshold_with_one_warning() -> None:
    clock = FakeClock()
    cache = FlakyCache(CircuitBreaker(threshold=3, cooldown=30, clock=clock))
    with pytest.raises(CacheError):
        cache.get("a")
    with pytest.raises(CacheError):
        cache.set("a", "1")
    skipped = r"failed 3 times in a row, so it is skipped for 30 s"
    with pytest.warns(CacheWarning, match=skipped) as caught, pytest.raises(CacheError):
        cache.get("b")
    assert len(caught) == 1
    assert caught[0].filename == __file__  # points at the caller, not at the cache's insides
    # Open: lookups are misses and writes are dropped, without asking the storage or warning again.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for index in range(100):
            assert cache.get(f"k{index}") is None
            cache.set(f"k{index}", "1")
    assert cache.calls == 3
    assert cache.info().misses == 100  # skipped lookups are misses (failed ones raised)


def test_the_cache_is_used_again_once_a_probe_succeeds() -> None:
    clock = FakeClock()
    cache = FlakyCache(CircuitBreaker(threshold=1, cooldown=5, clock=clock))
    with pytest.warns(CacheWarning), pytest.raises(CacheError):
        cache.get("a")
    cache.down = False
    assert cache.get("a") is None and cache.calls == 1  # still cooling down: not asked
    clock.advance(5)
    cache.set("a", "1")  # the probe
    assert cache.breaker.state == "closed"
    assert cache.get("a") == "1"
    assert cache.calls == 3


def test_a_failed_probe_skips_for_another_cooldown_without_a_new_warning() -> None:
    clock = FakeClock()
    cache = FlakyCache(CircuitBreaker(threshold=1, cooldown=5, clock=clock))
    with pytest.warns(CacheWarning), pytest.raises(CacheError):
        cache.get("a")
    clock.advance(5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(CacheError):
            cache.get("a")  # the probe fails: that call still reports it
        assert cache.get("a") is None
    assert cache.calls == 2


def test_only_one_thread_probes_a_half_open_breaker() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=1, cooldown=1, clock=clock)
    breaker.failed()
    clock.advance(1)
    start = threading.Barrier(8)
    allowed: list[bool] = []

    def ask() -> None:
        start.wait()
        allowed.append(breaker.allow())

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(allowed) == [False] * 7 + [True]


def test_caller_errors_do_not_count_as_failures() -> None:
    cache = MemoryCache()
    cache.breaker = CircuitBreaker(threshold=1)
    for bad in (b"key", 1):
        with pytest.raises(TypeError):
            cache.get(bad)  # type: ignore[arg-type]
    with pytest.raises(CacheError, match="lone surrogate"):
        cache.set("k", '{"name": "\ud800"}')
    assert cache.breaker.state == "closed"
