"""The batch store in Redis, so a fleet shares its batch jobs: :class:`RedisBatchStore`.

Each ``(job, kind)`` is one hash (``prefix + job + ":" + kind``) and the job ids are one set
(``prefix + "jobs"``). A group of records is written in one ``MULTI``/``EXEC`` transaction, so it
is all there or not at all; :meth:`RedisBatchStore.add` uses ``HSETNX``, which keeps a record
already stored. Nothing expires but the job's lease (``prefix + job + ":_lease"``, taken with
``SET NX PX`` and renewed or released only by its owner, atomically, in a Lua script); a job is
removed by :meth:`RedisBatchStore.delete`.
Needs the ``redis`` extra; the password in the URL is masked everywhere, as for
:class:`~invoiceai.cache.RedisCache`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from invoiceai.errors import CacheError, ConfigurationError, InvoiceAIError, MissingDependencyError
from invoiceai.secrets import mask_text, mask_url, register_secret, url_secrets

if TYPE_CHECKING:
    from invoiceai.cache.batch_store import Records, Stale

__all__ = ["RedisBatchStore"]

_T = TypeVar("_T")

# Renew or give back a lease only if it is still ours: GET and PEXPIRE/DEL in one atomic step.
_RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
_TAKE_OVER = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end "
    "return 0"
)
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


class RedisBatchStore:
    """Batch job records in Redis.

    Args:
        url: A ``redis://``, ``rediss://`` or ``unix://`` URL. Ignored when ``client`` is given.
        client: An existing ``redis.Redis`` client (not closed by :meth:`close`).
        prefix: Prepended to every key, so that the store shares a database safely.
        socket_timeout: Seconds to wait for a reply.

    Raises:
        MissingDependencyError: The ``redis`` package is not installed.
        ConfigurationError: ``url`` is not a Redis URL, or ``prefix`` is empty.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Any = None,
        prefix: str = "invoiceai:batch:",
        socket_timeout: float = 5.0,
    ) -> None:
        if not prefix:
            raise ConfigurationError("RedisBatchStore needs a non-empty prefix.")
        self.prefix = prefix
        try:
            import redis
        except ImportError as exc:
            raise MissingDependencyError(
                'The Redis batch store needs the redis package: pip install "invoiceai-claude[redis]".', extra="redis"
            ) from exc
        self._owns_client = client is None
        if client is not None:
            self._client, self.location = client, f"<{type(client).__name__}>"
            return
        url = url or "redis://localhost:6379/0"
        self.location = mask_url(url)
        for secret in url_secrets(url):
            register_secret(secret, owner=self)
        try:
            self._client = redis.Redis.from_url(
                url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout
            )
        except (ValueError, TypeError) as exc:
            detail = mask_text(str(exc), url_secrets(url))
        else:
            return
        raise ConfigurationError(f"Invalid Redis URL {self.location}: {detail}.")

    def __repr__(self) -> str:
        return f"RedisBatchStore(location={self.location!r}, prefix={self.prefix!r})"

    def put(self, job: str, records: Records) -> None:
        """Writes ``records`` in one transaction, replacing existing ones."""
        self._write(job, records, keep=False)

    def add(self, job: str, records: Records) -> None:
        """Writes ``records`` in one transaction, keeping existing ones."""
        self._write(job, records, keep=True)

    def read(self, job: str, kind: str) -> dict[str, str]:
        """Returns the records of ``kind``."""
        raw = self._call("read", lambda: self._client.hgetall(self._key(job, kind)))
        return {_text(key): _text(value) for key, value in raw.items()}

    def get(self, job: str, kind: str, key: str) -> str | None:
        """Returns one record (``HGET``), or ``None``."""
        found = self._call("read", lambda: self._client.hget(self._key(job, kind), key))
        return None if found is None else _text(found)

    def discard(self, job: str, names: Iterable[tuple[str, str]]) -> None:
        """Removes records (``HDEL``) in one transaction."""
        listed = list(names)

        def remove() -> None:
            pipeline = self._client.pipeline(transaction=True)
            for kind, key in listed:
                pipeline.hdel(self._key(job, kind), key)
            pipeline.execute()

        self._call("remove records", remove)

    def jobs(self) -> list[str]:
        """Returns the jobs with a ``meta`` record."""
        return sorted(
            _text(job) for job in self._call("list jobs", lambda: self._client.smembers(self.prefix + "jobs"))
        )

    def delete(self, job: str) -> None:
        """Removes the job (every hash under its prefix and its place in the job set)."""

        def remove() -> None:
            names = list(self._client.scan_iter(match=_escape(f"{self.prefix}{job}:") + "*"))
            pipeline = self._client.pipeline(transaction=True)
            if names:
                pipeline.delete(*names)
            pipeline.srem(self.prefix + "jobs", job)
            pipeline.execute()

        self._call("delete a job", remove)

    def lease(self, job: str, owner: str, seconds: float, *, stale: Stale | None = None) -> bool:
        """Takes the lease with ``SET NX PX``, renews it if ``owner`` holds it, or takes over a stale one."""
        key, milliseconds = self._key(job, "_lease"), max(1, int(seconds * 1000))

        def take() -> bool:
            if self._client.set(key, owner, nx=True, px=milliseconds):
                return True
            if self._client.eval(_RENEW, 1, key, owner, milliseconds):
                return True
            holder = self._client.get(key)
            if holder is None:  # expired just now
                return bool(self._client.set(key, owner, nx=True, px=milliseconds))
            if stale is None or not stale(_text(holder)):
                return False
            return bool(self._client.eval(_TAKE_OVER, 1, key, _text(holder), owner, milliseconds))

        return self._call("take a lease", take)

    def release(self, job: str, owner: str) -> None:
        """Deletes the lease if ``owner`` holds it."""
        self._call("release a lease", lambda: self._client.eval(_RELEASE, 1, self._key(job, "_lease"), owner))

    def close(self) -> None:
        """Closes the client's connections if this store created the client."""
        if self._owns_client:
            self._call("close", self._client.close)

    def _write(self, job: str, records: Records, *, keep: bool) -> None:
        def write() -> None:
            pipeline = self._client.pipeline(transaction=True)
            for (kind, key), value in records.items():
                name = self._key(job, kind)
                if keep:
                    pipeline.hsetnx(name, key, value.encode("utf-8"))
                else:
                    pipeline.hset(name, key, value.encode("utf-8"))
                if kind == "meta":
                    pipeline.sadd(self.prefix + "jobs", job)
            pipeline.execute()

        self._call("write", write)

    def _key(self, job: str, kind: str) -> str:
        return f"{self.prefix}{job}:{kind}"

    def _call(self, doing: str, operation: Callable[[], _T]) -> _T:
        try:
            return operation()
        except InvoiceAIError:
            raise
        except Exception as exc:
            message = mask_text(f"{type(exc).__name__}: {exc}")
            failure = CacheError(
                f"The Redis batch store at {self.location} could not {doing}: {message}. "
                "Hint: check that the server is running and the URL and password are right."
            )
        raise failure


def _text(value: Any) -> str:
    return value if isinstance(value, str) else bytes(value).decode("utf-8")


def _escape(text: str) -> str:
    return "".join(f"\\{char}" if char in "*?[]\\" else char for char in text)
