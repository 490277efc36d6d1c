"""``ServiceSettings``: every knob of the service, read once (explicit > ``INVOICEAI_SERVER_*`` > default).

The service has its own settings object, apart from the library's :class:`~invoiceai.config.Settings`
(which the extractor inside the service still reads from ``INVOICEAI_*``): a library user never sees
service knobs, and a service setting never changes what an extraction does.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from invoiceai.config import check_numbers, default_cache_dir, settings_values
from invoiceai.errors import ConfigurationError

__all__ = ["ENV_PREFIX", "ServiceSettings", "default_database_url"]

ENV_PREFIX = "INVOICEAI_SERVER_"

_MIB = 1024 * 1024


def default_database_url(env: Mapping[str, str] | None = None) -> str:
    """The embedded job store: ``service.sqlite3`` in the library's cache directory."""
    return f"sqlite:///{default_cache_dir(env) / 'service.sqlite3'}"


@dataclasses.dataclass(frozen=True)
class ServiceSettings:
    """The service's settings; build them with :meth:`load`.

    Attributes:
        database_url: SQLAlchemy URL of the job store: ``sqlite:///path`` (default: under the cache
            directory) or ``postgresql+psycopg://user@host/db``.
        host: Address ``invoiceai serve`` listens on.
        port: Port ``invoiceai serve`` listens on.
        auth: Require ``Authorization: Bearer KEY``; only ``--no-auth`` on a loopback address turns it off.
        workers: In-process worker threads (embedded mode); ``0`` starts none (a fleet runs them).
        lease_seconds: How long a worker's claim on a job lasts without renewal; a crashed worker's
            job is picked up again after it.
        max_upload_bytes: Largest request body of ``POST /v1/documents`` (the document plus the
            multipart envelope).
        max_batch_bytes: Largest request body of ``POST /v1/batches``.
        max_batch_documents: Most documents in one batch.
        max_wait_seconds: Largest ``?wait=`` accepted.
        daily_quota: Documents one key may submit per UTC day (``0``: no quota); a key's own quota wins.
        rate_per_s: Requests per second one key may make on average (``0``: no limit).
        burst: Requests one key may make at once above the average.
        cache: The extractor's result cache (as ``invoiceai extract --cache``): ``"sqlite"``,
            ``"memory"``, a path, a ``redis://`` URL, or ``"none"``.
        webhook_secret: Key that signs webhook bodies (HMAC-SHA256); webhooks are not sent without one.
        webhook_attempts: Delivery attempts per webhook.
        max_attempts: Claims of one job before it fails with ``AttemptsExhaustedError`` (``0``: no
            limit): a document whose workers keep dying on it (killed, out of memory) stops there.
            A job given back by a worker that shut down cleanly counts too.
        shutdown_grace_seconds: How long stopping in-process workers waits for running jobs;
            the jobs still running then are given back to the queue.
        webhook_backoff_seconds: Wait before the first webhook retry; it doubles each attempt.
        broker_url: Celery broker (``redis://host:6379/0``). Set, the service runs as a fleet:
            ``invoiceai serve`` only accepts and reports, ``invoiceai worker`` processes run the jobs.
        visibility_timeout: Seconds Redis keeps a task a worker took but did not acknowledge before
            handing it to another worker (Celery's ``visibility_timeout``); longer than most jobs.
        message_batches_poll_seconds: Seconds between two looks at a batch sent through the
            Message Batches API (``"message_batches": true``).
        upload_retention_days: Days an uploaded document is kept after the last job that uses it
            ends (``0``: kept for ever). Results stay; the review page shows no page images after it.
        job_retention_days: Days a finished job (its result, corrections and webhook record) is
            kept after it ends (``0``: kept for ever, the default). The audit trail follows
            ``audit_retention_days``.
        purge_interval_seconds: How often each process that runs the purge (the embedded API,
            every fleet worker) deletes what is past its retention.
        message_batches_give_up_hours: Hours after which a batch sent through the Message Batches
            API whose looks still fail (the API down for days, say) is given up: its unfinished
            jobs fail with ``MessageBatchAbandonedError``. Errors that cannot clear up (a refused
            API key, a setup the job was not submitted with) end the batch at the first look.
        audit_retention_days: Days an audit row is kept (``0``: kept for ever, the default, as an
            auditor expects). Every row older goes, a kept job's too: the review page's correction
            history is in the job's corrections, not in the audit trail.
    """

    database_url: str = dataclasses.field(default_factory=default_database_url)
    host: str = "127.0.0.1"
    port: int = 8000
    auth: bool = True
    workers: int = 4
    lease_seconds: float = 300.0
    max_upload_bytes: int = 50 * _MIB + 64 * 1024
    max_batch_bytes: int = 256 * _MIB
    max_batch_documents: int = 1000
    max_wait_seconds: float = 60.0
    daily_quota: int = 0
    rate_per_s: float = 0.0
    burst: int = 20
    cache: str = "sqlite"
    webhook_secret: str = dataclasses.field(default="", repr=False)
    webhook_attempts: int = 5
    max_attempts: int = 5
    shutdown_grace_seconds: float = 30.0
    webhook_backoff_seconds: float = 1.0
    broker_url: str = dataclasses.field(default="", repr=False)
    visibility_timeout: float = 900.0
    message_batches_poll_seconds: float = 30.0
    upload_retention_days: float = 7.0
    job_retention_days: float = 0.0
    purge_interval_seconds: float = 3600.0
    message_batches_give_up_hours: float = 168.0
    audit_retention_days: float = 0.0

    def __post_init__(self) -> None:
        # A NaN lease passed "must be positive", and then every claim raised ValueError.
        check_numbers(self, prefix=ENV_PREFIX, what="Service setting")
        positive = ("port", "lease_seconds", "max_upload_bytes", "max_batch_bytes", "max_batch_documents")
        for name in (
            *positive,
            "visibility_timeout",
            "message_batches_poll_seconds",
            "purge_interval_seconds",
            "message_batches_give_up_hours",
        ):
            if getattr(self, name) <= 0:
                raise ConfigurationError(f"Service setting {name!r} must be positive, got {getattr(self, name)!r}.")
        for name in (
            "workers", "daily_quota", "rate_per_s", "burst", "max_wait_seconds", "webhook_attempts",
            "webhook_backoff_seconds", "max_attempts", "shutdown_grace_seconds", "upload_retention_days",
            "job_retention_days", "audit_retention_days",
        ):  # fmt: skip
            if getattr(self, name) < 0:
                raise ConfigurationError(f"Service setting {name!r} must not be negative, got {getattr(self, name)!r}.")

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> ServiceSettings:
        """Builds settings from explicit overrides, then ``INVOICEAI_SERVER_<FIELD>``, then defaults.

        Args:
            env: Environment to read (defaults to ``os.environ``).
            **overrides: Explicit values; ``None`` means "not given".

        Returns:
            The resolved settings.

        Raises:
            ConfigurationError: An override names no setting, or a value does not parse.
        """
        env = os.environ if env is None else env
        values = settings_values(cls, env, overrides, prefix=ENV_PREFIX, what="service setting")
        if "database_url" not in values:
            values["database_url"] = default_database_url(env)
        return cls(**values)

    @property
    def fleet(self) -> bool:
        """Whether jobs go to Celery workers through :attr:`broker_url` (else in-process threads run them)."""
        return bool(self.broker_url)

    def replace(self, **changes: Any) -> ServiceSettings:
        """A copy with ``changes`` applied (``None`` values are ignored)."""
        return dataclasses.replace(self, **{key: value for key, value in changes.items() if value is not None})
