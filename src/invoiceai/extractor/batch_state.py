"""What a Message Batches job keeps in its :class:`~invoiceai.cache.batch_store.BatchStore`, and reads back.

Only facts are stored, each written once it is known, so that any process can pick a job up:

=============  ================  ==========================================================
kind           key               value (JSON)
=============  ================  ==========================================================
``meta``       ``job``           model, fingerprint, schema, pages, limits, documents, and the
                                 settings that change a result (:attr:`JobMeta.options`)
``doc``        input position    where the document comes from: an absolute path, stored
                                 bytes, or why it could not be read at submission
``data``       input position    the stored bytes (base64), read only to open that document, and
                                 dropped once its result is final
``pending``    random token      a round's items about to be sent, and when; later what became
                                 of them (the batch id, ``"none"`` or ``"rejected"``)
``batch``      batch id          round, item count and size, whether its results are stored
``req``        custom id         document, request number, attempt, batch, digest of the params
``res``        custom id         the item's result as the API sent it (added, never replaced)
``final``      input position    the document's final result (:mod:`~invoiceai.extractor.batch_final`)
=============  ================  ==========================================================

A pending record is written before a batch is created; the batch record, the request records of
its items and the pending record's resolution are one atomic group, written right after. Results
are stored before their batch is marked collected. Everything else (which documents are
e-invoices or cached, what each request holds, which answer is valid) is derived again by
whoever collects.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from invoiceai.backends.claude.batch.items import BatchLimits, job_prefix
from invoiceai.backends.claude.batch.replay import Attempt
from invoiceai.errors import ConfigurationError
from invoiceai.extractor.batch_progress import BatchJob, BatchProgress, Result

if TYPE_CHECKING:
    from invoiceai.cache.batch_store import BatchStore, Records

__all__ = [
    "LIVE",
    "BatchJob",
    "BatchProgress",
    "JobMeta",
    "JobState",
    "PendingRound",
    "RequestRecord",
    "Result",
    "batch_records",
    "collected_record",
    "new_job_id",
    "now_iso",
    "pending_record",
    "rejected_records",
    "resolved_record",
    "result_records",
    "schema_name",
]


LIVE = "live"
"""The ``batch`` of a request record sent as a live request (``collect_batch(follow_up="live")``)."""


def new_job_id() -> str:
    """Returns a new job id: ``iaib_`` and 24 random hex digits."""
    return "iaib_" + os.urandom(12).hex()


def now_iso() -> str:
    """Returns the current UTC time, ISO 8601 to the second."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


@dataclasses.dataclass(frozen=True)
class JobMeta:
    """How a job's documents are extracted; stored once, at submission.

    Attributes:
        id: The job id.
        created_at: ISO 8601 time of submission (UTC).
        model: The model id.
        fingerprint: The backend's fingerprint; collecting with another backend setup is refused.
        schema: ``module:qualname`` of the schema, imported again to collect.
        pages: The page selection of every document.
        documents: How many documents the job has.
        limits: The per-batch limits of every round.
        options: The settings that change a result, as submitted: ``prefer_embedded``,
            ``cross_check``, ``validation_context``, ``max_attempts``, ``max_reasks``,
            ``token_budget``, ``mode`` and ``detail``. A collect uses them, or refuses to run
            with a backend set up otherwise (see :class:`~invoiceai.extractor.batch_jobs.BatchRunner`).
    """

    id: str
    created_at: str
    model: str
    fingerprint: str
    schema: str
    pages: Any
    documents: int
    limits: BatchLimits
    options: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def prefix(self) -> str:
        """The job's custom id prefix (:func:`~invoiceai.backends.claude.batch.items.job_prefix`)."""
        return job_prefix(self.id)

    def record(self) -> tuple[tuple[str, str], str]:
        """Returns the store record."""
        value = {**dataclasses.asdict(self), "limits": self.limits.to_dict()}
        return ("meta", "job"), _dump(value)

    @classmethod
    def parse(cls, text: str) -> JobMeta:
        """Reads a stored record."""
        value = json.loads(text)
        value["limits"] = BatchLimits(**value["limits"])
        return cls(**value)

    @classmethod
    def load(cls, store: BatchStore, job_id: str) -> JobMeta:
        """Reads the job's meta record alone.

        Raises:
            ConfigurationError: The store has no such job.
        """
        meta = store.read(job_id, "meta").get("job")
        if meta is None:
            raise ConfigurationError(
                f"No batch job {job_id!r} in the batch store at {store.location}; check the id, and use the same "
                "cache (--cache / cache=) as the submission."
            )
        return cls.parse(meta)

    def schema_class(self) -> type[Any]:
        """Imports the schema again.

        Raises:
            ConfigurationError: It cannot be imported in this process.
        """
        module_name, _, qualname = self.schema.partition(":")
        try:
            found: Any = importlib.import_module(module_name)
            for part in qualname.split("."):
                found = getattr(found, part)
        except (ImportError, AttributeError) as exc:
            raise ConfigurationError(
                f"Batch job {self.id} extracts {self.schema}, which cannot be imported here ({exc}); "
                "collect it where that schema is importable, or pass schema=."
            ) from None
        return found  # type: ignore[no-any-return]


def schema_name(schema: type[Any]) -> str:
    """Returns ``module:qualname`` for a schema, the way :meth:`JobMeta.schema_class` imports it."""
    return f"{schema.__module__}:{schema.__qualname__}"


@dataclasses.dataclass(frozen=True)
class RequestRecord:
    """One submitted item: attempt ``attempt`` of request ``sequence`` of document ``document``.

    ``ahead``: a chunk's first request sent ahead of its turn; ``sequence`` is the chunk's index.
    ``batch`` is :data:`LIVE` for a follow-up sent as a live request.
    """

    custom_id: str
    document: int
    sequence: int
    attempt: int
    batch: str
    digest: str
    document_id: str
    ahead: bool = False

    def record(self) -> tuple[tuple[str, str], str]:
        """Returns the store record."""
        value = dataclasses.asdict(self)
        del value["custom_id"]
        return ("req", self.custom_id), _dump(value)


@dataclasses.dataclass(frozen=True)
class PendingRound:
    """Items written down just before their batch is created (see :mod:`~invoiceai.extractor.batch_pending`).

    Attributes:
        token: The record's key.
        round: The round the items belong to.
        created_at: When the create was about to be sent (ISO 8601, UTC).
        requests: The items, their ``batch`` empty.
        resolved: ``None`` while nobody knows whether the batch exists; else the batch id it
            became, ``"none"`` (never created: the items are free to send again) or ``"rejected"``.
    """

    token: str
    round: int
    created_at: str
    requests: tuple[RequestRecord, ...]
    resolved: str | None = None

    def record(self) -> tuple[tuple[str, str], str]:
        """Returns the store record."""
        requests = [dataclasses.asdict(request) for request in self.requests]
        value = {"round": self.round, "created_at": self.created_at, "requests": requests, "resolved": self.resolved}
        return ("pending", self.token), _dump(value)

    @classmethod
    def parse(cls, token: str, text: str) -> PendingRound:
        """Reads a stored record."""
        value = json.loads(text)
        requests = tuple(RequestRecord(**request) for request in value["requests"])
        return cls(token, int(value["round"]), str(value["created_at"]), requests, value.get("resolved"))


@dataclasses.dataclass
class JobState:
    """Everything stored about a job but the documents' bytes, read at once, with the requests grouped by document.

    Attributes:
        finals: The stored final results by input position (JSON text, read by
            :func:`~invoiceai.extractor.batch_final.parse_final`).
    """

    meta: JobMeta
    docs: dict[int, dict[str, Any]]
    batches: dict[str, dict[str, Any]]
    requests: dict[str, RequestRecord]
    results: dict[str, dict[str, Any]]
    pending: dict[str, PendingRound] = dataclasses.field(default_factory=dict)
    finals: dict[int, str] = dataclasses.field(default_factory=dict)
    _by_document: dict[int, dict[int, list[RequestRecord]]] = dataclasses.field(init=False, repr=False)
    _ahead: dict[int, dict[int, list[RequestRecord]]] = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Grouped once, so a look over n documents costs O(n), not O(n) per document.
        self._by_document, self._ahead = {}, {}
        unsent = (request for pending in self.unresolved() for request in pending.requests)
        for request in (*self.requests.values(), *unsent):
            groups = self._ahead if request.ahead else self._by_document
            groups.setdefault(request.document, {}).setdefault(request.sequence, []).append(request)
        for groups in (self._by_document, self._ahead):
            for sequences in groups.values():
                for records in sequences.values():
                    records.sort(key=lambda record: record.attempt)

    @classmethod
    def load(cls, store: BatchStore, job_id: str) -> JobState:
        """Reads the job.

        Raises:
            ConfigurationError: The store has no such job.
        """
        meta = JobMeta.load(store, job_id)
        requests = {
            key: RequestRecord(custom_id=key, **json.loads(text)) for key, text in store.read(job_id, "req").items()
        }
        return cls(
            meta=meta,
            docs={int(key): json.loads(text) for key, text in store.read(job_id, "doc").items()},
            batches={key: json.loads(text) for key, text in store.read(job_id, "batch").items()},
            requests=requests,
            results={key: json.loads(text) for key, text in store.read(job_id, "res").items()},
            pending={key: PendingRound.parse(key, text) for key, text in store.read(job_id, "pending").items()},
            finals={int(key): text for key, text in store.read(job_id, "final").items()},
        )

    def attempts(self, document: int) -> dict[int, list[Attempt]]:
        """Returns the document's attempts by request number, oldest attempt first.

        Items of a round whose create is unresolved count as attempts without a result (in flight).
        """
        return {
            sequence: [self._attempt(record) for record in records]
            for sequence, records in self._by_document.get(document, {}).items()
        }

    def ahead(self, document: int) -> dict[int, list[Attempt]]:
        """Returns the attempts of the document's chunks sent ahead, by chunk index, oldest attempt first."""
        return {
            chunk: [self._attempt(record) for record in records]
            for chunk, records in self._ahead.get(document, {}).items()
        }

    def sent_as(self, document: int) -> str | None:
        """Returns the ``document_id`` the document had when it was first sent, or ``None`` if never sent."""
        for records in self._by_document.get(document, {}).values():
            return records[0].document_id
        return None

    def _attempt(self, record: RequestRecord) -> Attempt:
        result = self.results.get(record.custom_id)
        batch = self.batches.get(record.batch, {})
        if result is None and batch.get("collected"):
            # Its batch ended without a (readable) line for it: as if never processed.
            result = {"type": "expired", "unreadable": True} if batch.get("unreadable_lines") else {"type": "expired"}
        return Attempt(record.custom_id, record.digest, result, live=record.batch == LIVE)

    def owners(self) -> dict[str, int]:
        """Returns ``document_id -> first document position`` of every document that was sent."""
        owners: dict[str, int] = {}
        for document, sequences in self._by_document.items():
            for records in sequences.values():
                found = records[0].document_id
                owners[found] = min(owners.get(found, document), document)
        return owners

    def unresolved(self) -> list[PendingRound]:
        """Returns the pending rounds whose batch may or may not exist, oldest first."""
        return sorted((item for item in self.pending.values() if item.resolved is None), key=lambda p: p.created_at)

    def rounds(self) -> int:
        """Returns how many rounds were submitted."""
        return max((int(batch["round"]) for batch in self.batches.values()), default=0)

    def open_batches(self) -> list[str]:
        """Returns the batches whose results are not stored yet, oldest round first."""
        pending = [(int(info["round"]), key) for key, info in self.batches.items() if not info.get("collected")]
        return [key for _, key in sorted(pending)]


def pending_record(round_number: int, records: Iterable[RequestRecord]) -> PendingRound:
    """Returns a new pending round for ``records`` (write it before the create)."""
    return PendingRound(os.urandom(8).hex(), round_number, now_iso(), tuple(records))


def resolved_record(pending: PendingRound, outcome: str) -> Records:
    """Returns the pending round's record marked resolved as ``outcome``."""
    name, value = dataclasses.replace(pending, resolved=outcome).record()
    return {name: value}


def batch_records(
    round_number: int,
    batch_id: str,
    records: Sequence[RequestRecord],
    *,
    size: int = 0,
    pending: PendingRound | None = None,
    collected: bool = False,
) -> dict[tuple[str, str], str]:
    """Returns the group written right after a batch is created: the batch, its items, the pending round's end."""
    group: dict[tuple[str, str], str] = {}
    info = {"round": round_number, "requests": len(records), "bytes": size, "created_at": now_iso(),
            "collected": collected}  # fmt: skip
    group[("batch", batch_id)] = _dump(info)
    for record in records:
        name, value = dataclasses.replace(record, batch=batch_id).record()
        group[name] = value
    if pending is not None:
        group.update(resolved_record(pending, batch_id))
    return group


def rejected_records(pending: PendingRound, body: Mapping[str, Any] | None, message: str) -> Records:
    """Returns what stands for a batch the API refused to create: its items, each ``errored`` with the API's error.

    The batch is recorded as collected under a made-up id, so the documents in it fail as a live
    request refused with the same error would fail them, and the rest of the job goes on.
    """
    error = body if body and isinstance(body.get("error"), Mapping) else None
    error = error or {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
    group = batch_records(pending.round, f"rejected_{pending.token}", pending.requests, collected=True)
    group.update(resolved_record(pending, "rejected"))
    for record in pending.requests:
        group[("res", record.custom_id)] = _dump({"type": "errored", "error": error})
    return group


def collected_record(batch_id: str, info: Mapping[str, Any], counts: Mapping[str, int], *, skipped: int = 0) -> Records:
    """Returns the record that marks a batch's results as stored (``skipped``: unreadable lines)."""
    value = {**info, "collected": True, "counts": dict(counts)}
    if skipped:
        value["unreadable_lines"] = skipped
    return {("batch", batch_id): _dump(value)}


def result_records(results: Iterable[tuple[str, Mapping[str, Any]]], known: Iterable[str]) -> Records:
    """Returns the ``res`` records of a batch's result lines, keeping only custom ids in ``known``."""
    wanted = set(known)
    return {("res", custom_id): _dump(result) for custom_id, result in results if custom_id in wanted}
