"""Per-key rate limits (invoiceai.server.limits): token buckets driven by a fake clock, no sleeps."""

from __future__ import annotations

import math
import subprocess
import sys
import threading

import pytest

from invoiceai.server.limits import KeyLimiter, retry_after_header, seconds_to_utc_midnight


class FakeClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def limiter(rate: float = 2.0, burst: int = 3, **kwargs: int) -> tuple[KeyLimiter, FakeClock]:
    clock = FakeClock()
    return KeyLimiter(rate_per_s=rate, burst=burst, clock=clock, **kwargs), clock


def test_a_new_key_gets_its_burst_then_waits_for_exactly_one_token() -> None:
    limits, _ = limiter(rate=2.0, burst=3)
    assert [limits.check("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limits.check("k") == pytest.approx(0.5)  # one token at 2/s


def test_a_refused_request_is_not_charged() -> None:
    limits, clock = limiter(rate=1.0, burst=2)
    limits.check("k", 2)
    assert limits.check("k") == pytest.approx(1.0)
    assert limits.check("k") == pytest.approx(1.0)  # asking again took nothing
    clock.advance(1.0)
    assert limits.check("k") == 0.0
    assert limits.check("k") == pytest.approx(1.0)


def test_waiting_as_told_is_enough() -> None:
    limits, clock = limiter(rate=3.0, burst=5)
    limits.check("k", 5)
    wait = limits.check("k", 4)
    assert wait == pytest.approx(4 / 3)
    clock.advance(wait)
    assert limits.check("k", 4) == 0.0


def test_tokens_refill_at_the_rate_and_never_beyond_the_burst() -> None:
    limits, clock = limiter(rate=2.0, burst=3)
    limits.check("k", 3)
    clock.advance(0.75)  # 1.5 tokens
    assert limits.check("k", 2) == pytest.approx(0.25)
    clock.advance(3600)
    assert [limits.check("k") for _ in range(4)][:3] == [0.0, 0.0, 0.0]
    assert limits.check("k") > 0


def test_keys_have_separate_buckets() -> None:
    limits, _ = limiter(rate=1.0, burst=1)
    assert limits.check("a") == 0.0
    assert limits.check("a") > 0
    assert limits.check("b") == 0.0


def test_a_batch_costs_several_tokens() -> None:
    limits, _ = limiter(rate=10.0, burst=10)
    assert limits.check("k", cost=7) == 0.0
    assert limits.check("k", cost=7) == pytest.approx(0.4)
    assert limits.check("k", cost=3) == 0.0


@pytest.mark.parametrize("cost", [0, -1, 4])
def test_a_cost_that_could_never_pass_is_refused_loudly(cost: int) -> None:
    limits, _ = limiter(burst=3)
    with pytest.raises(ValueError, match="never pass"):
        limits.check("k", cost)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rate_per_s": 0, "burst": 1},
        {"rate_per_s": -1, "burst": 1},
        {"rate_per_s": math.inf, "burst": 1},
        {"rate_per_s": math.nan, "burst": 1},
        {"rate_per_s": 1, "burst": 0},
        {"rate_per_s": 1, "burst": 1, "max_keys": 0},
    ],
)
def test_bad_parameters_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        KeyLimiter(**kwargs)  # type: ignore[arg-type]


def test_a_clock_stepping_back_does_not_drain_or_fill_the_bucket() -> None:
    limits, clock = limiter(rate=1.0, burst=2)
    limits.check("k", 2)
    clock.advance(-100)
    assert limits.check("k") == pytest.approx(1.0)
    clock.advance(100.5)  # back where it was, plus half a token
    assert limits.check("k") == pytest.approx(0.5)


def test_idle_buckets_are_evicted_once_full_again() -> None:
    limits, clock = limiter(rate=1.0, burst=2)
    for n in range(50):
        limits.check(f"key-{n}")
    assert len(limits) == 50
    clock.advance(1.9)  # not yet full: each is 1.9 of 2 tokens
    limits.check("other")
    assert len(limits) == 51
    clock.advance(0.1)
    limits.check("other")
    assert len(limits) == 1


def test_eviction_keeps_a_busy_key_and_its_debt() -> None:
    limits, clock = limiter(rate=1.0, burst=2)
    limits.check("idle")
    limits.check("busy", 2)
    clock.advance(1.0)
    assert limits.check("busy") == 0.0  # touched: moved behind "idle", empty again
    clock.advance(1.0)  # idle is full now (2 s untouched); busy has refilled 1 token only
    assert limits.check("busy", 2) == pytest.approx(1.0)
    assert len(limits) == 1


def test_the_key_cap_drops_the_least_recently_used_bucket() -> None:
    limits, _ = limiter(rate=1.0, burst=1, max_keys=3)
    for key in ("a", "b", "c"):
        limits.check(key)
    limits.check("a")  # a is now the most recently used
    limits.check("d")
    assert len(limits) == 3
    assert limits.check("b") == 0.0  # b was dropped, so it starts full
    assert limits.check("a") > 0  # a was kept, still empty


def test_concurrent_checks_never_hand_out_more_than_the_burst() -> None:
    limits, _ = limiter(rate=0.001, burst=100)
    start = threading.Barrier(8)
    allowed: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        start.wait()
        mine = sum(1 for _ in range(50) if limits.check("shared") == 0.0)
        with lock:
            allowed.append(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(allowed) == 100


@pytest.mark.parametrize(
    ("wait", "header"),
    [(0.0, "1"), (0.001, "1"), (1.0, "1"), (1.0001, "2"), (2.5, "3"), (59.99, "60"), (-3.0, "1")],
)
def test_retry_after_is_whole_seconds_rounded_up_and_at_least_one(wait: float, header: str) -> None:
    assert retry_after_header(wait) == header


@pytest.mark.parametrize("wait", [math.inf, math.nan])
def test_retry_after_refuses_a_wait_that_is_not_finite(wait: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        retry_after_header(wait)


def test_a_client_waiting_the_retry_after_is_allowed() -> None:
    limits, clock = limiter(rate=0.3, burst=1)
    limits.check("k")
    wait = limits.check("k")
    clock.advance(int(retry_after_header(wait)))
    assert limits.check("k") == 0.0


@pytest.mark.parametrize(
    ("now", "left"),
    [(0.0, 86_400.0), (86_399.0, 1.0), (1_700_000_000.0, 86_400 - 1_700_000_000 % 86_400)],
)
def test_seconds_to_utc_midnight(now: float, left: float) -> None:
    assert seconds_to_utc_midnight(now) == pytest.approx(left)


def test_the_limits_module_imports_nothing_heavy() -> None:
    code = (
        "import sys, invoiceai.server.limits\n"
        "heavy = [m for m in ('pydantic', 'httpx2', 'fastapi', 'prometheus_client', 'sqlalchemy', 'anthropic')"
        " if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
