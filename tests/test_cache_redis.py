"""RedisCache against a real redis-server that this module starts on a free loopback port.

The server tests are skipped only when ``redis-server`` is not installed (Debian: ``apt-get install
redis-server``; ``.ci/run`` installs it). Each xdist worker starts its own server in its own
temporary directory, and each test uses its own key prefix.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from cache_contract import Advance, CacheContract, FakeClock
from invoiceai.cache import CacheError, CacheWarning, CircuitBreaker, RedisCache, open_cache
from invoiceai.cache.redis_cache import safe_url
from invoiceai.errors import ConfigurationError, MissingDependencyError
from invoiceai.secrets import mask_url

PASSWORD = "s3cret-Pa55word"  # the server requires it, so every test proves it is never shown
NO_SERVER = (
    "redis-server is not installed, so the Redis cache tests cannot start a real server "
    "(Debian: apt-get install redis-server; .ci/run installs it)"
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis_server(executable: str, directory: Path) -> tuple[subprocess.Popen[bytes], int] | None:
    """Starts redis-server on a free loopback port; ``None`` if it did not come up as ours.

    The server says when it is ready the way it tells systemd (``READY=1`` on ``NOTIFY_SOCKET``),
    so the test waits for that message instead of polling with sleeps.
    """
    port = free_port()
    options = {
        "bind": "127.0.0.1",
        "port": str(port),
        "dir": str(directory),
        "save": "",  # no snapshots, no append-only file: nothing outlives the test
        "appendonly": "no",
        "requirepass": PASSWORD,
        "logfile": str(directory / "redis.log"),
        "supervised": "systemd",
    }
    arguments = [item for name, value in options.items() for item in (f"--{name}", value)]
    notify_path = directory / f"notify-{port}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(str(notify_path))
        environment = {**os.environ, "NOTIFY_SOCKET": str(notify_path)}
        process = subprocess.Popen(
            [executable, *arguments], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment
        )
        wait_until_ready(notify, process, deadline=time.monotonic() + 10)
    notify_path.unlink(missing_ok=True)
    client = redis.Redis(host="127.0.0.1", port=port, password=PASSWORD, socket_timeout=1)
    try:
        # Another worker's server may have won the port: only ours has our pid.
        with contextlib.suppress(redis.ConnectionError, redis.TimeoutError):
            if process.poll() is None and client.info("server")["process_id"] == process.pid:
                return process, port
    finally:
        client.close()
    stop(process)
    return None


def wait_until_ready(notify: socket.socket, process: subprocess.Popen[bytes], deadline: float) -> None:
    """Blocks until the server sends ``READY=1``, exits, or the deadline passes.

    A server built without systemd support never sends it; then the deadline passes and the
    caller's check finds the server up anyway, only later.
    """
    notify.settimeout(0.5)  # wakes up only to notice a server that exited (its port was taken)
    while process.poll() is None and time.monotonic() < deadline:
        try:
            if b"READY=1" in notify.recv(4096):
                return
        except TimeoutError:  # socket.timeout, an alias of TimeoutError since Python 3.10
            continue


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def start_own_server(directory: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Starts a redis-server for the caller alone (skips the test when there is none)."""
    executable = shutil.which("redis-server")
    if executable is None:
        pytest.skip(NO_SERVER)
    for _ in range(5):  # the free port may be taken before the server binds it
        started = start_redis_server(executable, directory)
        if started is not None:
            return started
    raise RuntimeError(f"redis-server did not start; see {directory / 'redis.log'}")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    process, port = start_own_server(tmp_path_factory.mktemp("redis-server"))
    try:
        yield f"redis://:{PASSWORD}@127.0.0.1:{port}/0"
    finally:
        stop(process)


@pytest.fixture
def client(redis_url: str) -> Iterator[Any]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def prefix() -> str:
    return f"test-{uuid.uuid4().hex}:"


@pytest.fixture
def cache(redis_url: str, prefix: str) -> Iterator[RedisCache]:
    with RedisCache(redis_url, prefix=prefix) as cache:
        yield cache


@pytest.fixture
def advance(client: Any, prefix: str) -> Advance:
    """Moves the server's clock forward for this test's entries, without waiting.

    Expiry happens inside the server, on its own clock, which a test cannot set. Moving every
    expiry time under the test's prefix earlier by ``seconds`` is the same thing as far as these
    entries can tell; a time that lands in the past makes Redis itself expire the key.
    """

    def move(seconds: float) -> None:
        for name in client.scan_iter(match=f"{prefix}*"):  # the fixture's prefix holds no glob characters
            expires_at = int(client.execute_command("PEXPIRETIME", name))  # ms since the epoch; < 0: none
            if expires_at >= 0:
                client.pexpireat(name, expires_at - round(seconds * 1000))

    return move


class TestRedisContract(CacheContract):
    pass


def test_ttl_is_set_in_the_server(cache: RedisCache, client: Any, prefix: str) -> None:
    cache.set("timed", "1", ttl=60)
    cache.set("forever", "1")
    assert 59_000 < client.pttl(prefix + "timed") <= 60_000
    assert client.pttl(prefix + "forever") == -1
    cache.set("timed", "2")  # an overwrite without a TTL removes the old one
    assert client.pttl(prefix + "timed") == -1


def test_entries_are_stored_under_the_prefix_as_utf8(cache: RedisCache, client: Any, prefix: str) -> None:
    cache.set("k", '"Müller"')
    assert client.get(prefix + "k") == '"Müller"'.encode()


def test_a_value_that_is_not_utf8_is_a_miss_and_gets_replaced(
    cache: RedisCache, client: Any, prefix: str, redis_url: str
) -> None:
    # Damage (or another program writing under the prefix) must read as a miss, which the
    # Extractor repairs by extracting again; it raised a bare UnicodeDecodeError instead.
    client.set(prefix + "k", b'{"total": "\xff\xfe12.50"}')
    with pytest.warns(CacheWarning, match="not UTF-8"):
        assert cache.get("k") is None
    cache.set("k", '{"total": "12.50"}')
    assert cache.get("k") == '{"total": "12.50"}'
    assert (cache.info().hits, cache.info().misses) == (1, 1)
    # The same through a caller's client that decodes replies itself.
    client.set(prefix + "k", b"\xff\xfe")
    decoding = redis.Redis.from_url(redis_url, decode_responses=True)
    with pytest.warns(CacheWarning, match="not UTF-8"):
        assert RedisCache(client=decoding, prefix=prefix).get("k") is None
    assert decoding.ping()  # the connection is still usable
    decoding.close()


def test_clear_deletes_only_keys_under_its_prefix(redis_url: str, client: Any) -> None:
    tag = uuid.uuid4().hex
    # Glob characters in a prefix must not widen what clear() matches.
    ours = RedisCache(redis_url, prefix=f"{tag}:a*[b]?:")
    client.set(f"{tag}:other", "keep")
    client.set(f"{tag}:aX[b]Y:similar", "keep")
    client.set(f"{tag}:ab?:similar", "keep")
    pipeline = client.pipeline(transaction=False)
    for index in range(1234):  # more than one SCAN/UNLINK batch
        pipeline.set(f"{tag}:a*[b]?:k{index}", "x")
    pipeline.execute()
    assert ours.info().entries == 1234
    ours.clear()
    assert ours.info().entries == 0
    remaining = sorted(key.decode() for key in client.scan_iter(match=f"{tag}:*"))
    assert remaining == sorted([f"{tag}:other", f"{tag}:aX[b]Y:similar", f"{tag}:ab?:similar"])
    ours.close()


def test_two_prefixes_are_two_caches(redis_url: str) -> None:
    tag = uuid.uuid4().hex
    with RedisCache(redis_url, prefix=f"{tag}-one:") as one, RedisCache(redis_url, prefix=f"{tag}-two:") as two:
        one.set("k", "1")
        assert two.get("k") is None
        two.clear()
        assert one.get("k") == "1"


def test_workers_share_entries(redis_url: str, prefix: str) -> None:
    with RedisCache(redis_url, prefix=prefix) as worker_a, RedisCache(redis_url, prefix=prefix) as worker_b:
        worker_a.set("k", '{"total": "1.00"}', ttl=60)
        assert worker_b.get("k") == '{"total": "1.00"}'


def test_a_callers_client_is_used_and_not_closed(redis_url: str, prefix: str) -> None:
    own = redis.Redis.from_url(redis_url, decode_responses=True)
    cache = RedisCache(client=own, prefix=prefix)
    cache.set("k", '"v"')
    assert cache.get("k") == '"v"'
    assert PASSWORD not in repr(cache)
    assert cache.info().location.startswith("redis://127.0.0.1:")
    cache.close()
    assert own.ping()  # still open
    own.close()


def test_password_never_shows(cache: RedisCache, redis_url: str) -> None:
    assert PASSWORD in redis_url
    cache.set("k", "1")
    assert PASSWORD not in repr(cache)
    assert PASSWORD not in str(cache.info())
    assert PASSWORD not in str(vars(cache))
    assert cache.info().location == redis_url.replace(PASSWORD, "***")


def test_a_wrong_password_is_a_cache_error_that_does_not_show_it(redis_url: str) -> None:
    wrong = redis_url.replace(PASSWORD, "not-the-Pa55word")
    with RedisCache(wrong) as cache, pytest.raises(CacheError, match="could not read an entry") as caught:
        cache.get("k")
    assert "not-the-Pa55word" not in str(caught.value)
    assert isinstance(caught.value.__cause__, redis.RedisError)


def test_an_unreachable_server_is_a_cache_error() -> None:
    # No server listens on a port we just closed; the password must not leak into the message.
    url = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"
    cache = RedisCache(url, socket_timeout=2)  # connecting is lazy: constructing does not fail
    for operation in (lambda: cache.get("k"), lambda: cache.set("k", "1"), cache.clear, cache.info):
        with pytest.raises(CacheError, match=r"Redis cache at redis://:\*\*\*@127\.0\.0\.1") as caught:
            operation()
        assert PASSWORD not in str(caught.value)
        assert "server is running" in str(caught.value)
        assert isinstance(caught.value.__cause__, redis.ConnectionError)
    cache.close()


# -- without a server ---------------------------------------------------------------------


def test_missing_redis_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # makes `import redis` fail
    with pytest.raises(MissingDependencyError, match=r'pip install "invoiceai-claude\[redis\]"') as caught:
        RedisCache("redis://localhost:6379/0")
    assert caught.value.extra == "redis"
    with pytest.raises(MissingDependencyError):
        open_cache("redis://localhost:6379/0")


def test_an_empty_prefix_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="prefix"):
        RedisCache("redis://localhost:6379/0", prefix="")


def test_an_invalid_url_is_a_configuration_error_without_the_password() -> None:
    with pytest.raises(ConfigurationError, match="Invalid Redis URL") as caught:
        RedisCache(f"redis://:{PASSWORD}@localhost:notaport/0")
    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://localhost:6379/0", "redis://localhost:6379/0"),
        ("redis://:pw@host:6379/2", "redis://:***@host:6379/2"),
        ("rediss://user:p%40ss@host/0", "rediss://user:***@host/0"),
        ("redis://user@host/0", "redis://user@host/0"),
        ("unix:///run/redis.sock?db=1&password=pw", "unix:///run/redis.sock?db=1&password=***"),
    ],
)
def test_safe_url_masks_passwords(url: str, shown: str) -> None:
    assert safe_url(url) == shown


def test_repr_of_a_url_cache_shows_no_password() -> None:
    cache = RedisCache("redis://:hunter2-pw@127.0.0.1:1/0")
    assert repr(cache) == "RedisCache(location='redis://:***@127.0.0.1:1/0', prefix='invoiceai:')"
    assert "hunter2-pw" not in str(vars(cache))
    cache.close()


# -- a hung server, a server that never answers, and the breaker ---------------------------------


class CountingClient:
    """Wraps a redis client and counts the GET and SET commands that reach it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        if name in ("get", "set"):
            self.calls += 1
        return getattr(self.inner, name)


def test_timeouts_are_short_by_default_without_retries_and_settable() -> None:
    def options(cache: RedisCache) -> tuple[Any, ...]:
        kwargs = cache._client.connection_pool.connection_kwargs
        return kwargs["socket_timeout"], kwargs["socket_connect_timeout"], kwargs["retry"].get_retries()

    assert options(RedisCache("redis://127.0.0.1:1/0")) == (0.25, 0.5, 0)
    assert options(RedisCache("redis://127.0.0.1:1/0", socket_timeout=2, connect_timeout=3)) == (2, 3, 0)
    # What a cache= URL can say wins, since that is all a user of Extractor(cache="redis://...") has.
    assert options(RedisCache("redis://127.0.0.1:1/0?socket_timeout=4&socket_connect_timeout=6"))[:2] == (4.0, 6.0)


def test_a_hung_server_costs_a_few_short_timeouts_then_is_skipped(tmp_path: Path) -> None:
    process, port = start_own_server(tmp_path)
    clock = FakeClock()
    cache = RedisCache(f"redis://:{PASSWORD}@127.0.0.1:{port}/0", breaker=CircuitBreaker(clock=clock))
    try:
        cache.set("k", "1")
        counting = CountingClient(cache._client)
        cache._client = counting
        os.kill(process.pid, signal.SIGSTOP)  # hung: connections are accepted, nothing is answered
        try:
            with pytest.raises(CacheError, match="Timeout") as caught:
                cache.get("k")
            assert isinstance(caught.value.__cause__, redis.TimeoutError)
            assert PASSWORD not in str(caught.value)
            with pytest.raises(CacheError, match="Timeout"):
                cache.set("k", "1")
            skipped = r"redis://:\*\*\*@.*skipped for 30 s"
            with pytest.warns(CacheWarning, match=skipped) as warned, pytest.raises(CacheError, match="Timeout"):
                cache.get("k")
            assert len(warned) == 1 and PASSWORD not in str(warned[0].message)
            # Open: a hundred documents cost nothing more, and no warning each.
            for _ in range(100):
                assert cache.get("k") is None
                cache.set("k", "1")
            assert counting.calls == 3
            clock.advance(30)
            with pytest.raises(CacheError, match="Timeout"):  # one probe, still hung
                cache.get("k")
            assert cache.get("k") is None
            assert counting.calls == 4
        finally:
            os.kill(process.pid, signal.SIGCONT)
        clock.advance(30)
        assert cache.get("k") == "1"  # the server is back: the probe succeeds and the cache is used again
        assert cache.breaker.state == "closed"
    finally:
        cache.close()
        stop(process)


def test_a_server_that_never_answers_is_given_up_on() -> None:
    # A socket that listens but never accepts: connecting succeeds (the kernel queues it), and
    # not a byte ever comes back, which is what a wedged server or proxy looks like.
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        clock = FakeClock()
        cache = RedisCache(f"redis://:{PASSWORD}@127.0.0.1:{port}/0", breaker=CircuitBreaker(2, 60, clock=clock))
        with pytest.raises(CacheError, match="Timeout") as caught:
            cache.get("k")
        assert isinstance(caught.value.__cause__, redis.TimeoutError)
        with pytest.warns(CacheWarning, match="skipped for 60 s"), pytest.raises(CacheError):
            cache.set("k", "1")
        assert cache.get("k") is None
        assert cache.breaker.state == "open"
        cache.close()


def test_a_dependency_error_that_quotes_the_password_is_not_chained(redis_url: str, prefix: str) -> None:
    class Leaky(CountingClient):
        def get(self, name: str) -> Any:
            raise redis.ResponseError(f"AUTH failed for password {PASSWORD} (raw) and {PASSWORD.upper()}")

    inner = redis.Redis.from_url(redis_url)
    cache = RedisCache(client=Leaky(inner), prefix=prefix)
    with pytest.raises(CacheError, match="could not read an entry") as caught:
        cache.get("k")
    error = caught.value
    assert PASSWORD not in str(error) and "***" in str(error)
    assert error.__cause__ is None and error.__context__ is None
    import traceback

    assert PASSWORD not in "".join(traceback.format_exception(error))
    inner.close()


@pytest.mark.parametrize(
    ("url", "shown", "secrets"),
    [
        (
            "redis://:pw-1@host:6379/0?password=pw-2&db=1",
            "redis://:***@host:6379/0?password=***&db=1",
            ["pw-1", "pw-2"],
        ),
        ("rediss://default:s3cr%2Ft@host:6380", "rediss://default:***@host:6380", ["s3cr"]),
        ("redis://:ab12/cd34@host:6379/0", "redis://:***@host:6379/0", ["ab12", "cd34"]),  # an unencoded "/"
        ("redis://:ab12?cd34@host:6379/0", "redis://:***@host:6379/0", ["ab12", "cd34"]),
        ("redis://:ab12#cd34@host:6379/0", "redis://:***@host:6379/0", ["ab12", "cd34"]),
        ("redis://:p@ss-9@host:6379/0", "redis://:***@host:6379/0", ["p@ss", "ss-9"]),
        ("unix://:pw-3@/run/redis.sock?db=1", "unix://:***@/run/redis.sock?db=1", ["pw-3"]),
    ],
)
def test_every_password_form_is_masked(url: str, shown: str, secrets: list[str]) -> None:
    assert mask_url(url) == shown
    try:
        cache = RedisCache(url)
    except ConfigurationError as exc:  # a password the URL parser cut apart: refused, but not shown
        texts = [str(exc), repr(exc)]
    else:
        texts = [repr(cache), str(vars(cache)), str(cache.location)]
        cache.close()
    for text in [shown, *texts]:
        for secret in secrets:
            assert secret not in text


def test_a_password_cut_apart_by_the_url_parser_gets_a_hint() -> None:
    with pytest.raises(ConfigurationError, match=r"redis://:\*\*\*@host:6379/0: .*percent-encode it") as caught:
        RedisCache("redis://:ab12/cd34@host:6379/0")
    assert "ab12" not in str(caught.value)


def test_an_unparseable_url_shows_nothing_of_itself() -> None:
    assert mask_url("redis://:pw-4@[::1") == "<unparseable URL>"


def test_an_extractors_repr_shows_no_redis_password() -> None:
    from invoiceai import Extractor
    from invoiceai.testing import FakeBackend

    extractor = Extractor(backend=FakeBackend(), cache=f"redis://:{PASSWORD}@cache.internal:6379/0")
    assert PASSWORD not in repr(extractor)
    assert "redis://:***@cache.internal:6379/0" in repr(extractor)
