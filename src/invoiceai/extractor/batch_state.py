"""What a Message Batches job keeps in its :class:`~invoiceai.cache.batch_store.BatchStore`, and reads back.

Only facts are stored, each written once it is known, so that any process can pick a job up:

============  ================  ===========================================================
kind          key               value (JSON)
============  ================  ===========================================================
``meta``      ``job``           model, backend fingerprint, schema, pages, limits, documents
``doc``       input position    where the document comes from: an absolute path, or its bytes
``batch``     batch id          round, item count and size, whether its results are stored
``req``       custom id         document, request number, attempt, batch, digest of the params
``res``       custom id         the item's result as the API sent it (added, never replaced)
============  ================  ===========================================================

A batch record and the request records of its items are one atomic group, written right after
the batch is created; results are stored before their batch is marked collected. Everything
else (which documents are e-invoices or cached, what each request holds, which answer is valid)
is derived again by whoever collects.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import importlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from invoiceai.backends.claude.batch.items import BatchLimits, BatchRequest
from invoiceai.backends.claude.batch.replay import Attempt
from invoiceai.errors import ConfigurationError
from invoiceai.extractor.result import Extraction, ExtractionFailure
from invoiceai.usage import Usage

if TYPE_CHECKING:
    from invoiceai.cache.batch_store import BatchStore, Records
    from invoiceai.documents import Document, Source
    from invoiceai.extractor.pipeline import Pipeline

__all__ = [
    "BatchJob",
    "BatchProgress",
    "JobMeta",
    "JobState",
    "RequestRecord",
    "batch_records",
    "collected_record",
    "load_source",
    "new_job_id",
    "now_iso",
    "result_records",
    "schema_name",
    "source_record",
]

Result = Extraction[Any] | ExtractionFailure


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
    """

    id: str
    created_at: str
    model: str
    fingerprint: str
    schema: str
    pages: Any
    documents: int
    limits: BatchLimits

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


def source_record(index: int, source: Source) -> tuple[tuple[str, str], str]:
    """Returns the ``doc`` record of a source, without loading it.

    A path is kept as its absolute path and a URL as given: both are read again to collect (and
    must still hold the same bytes). Bytes, file objects and documents cannot be had again, so
    their bytes are stored.
    """
    from invoiceai.documents import Document
    from invoiceai.extractor.steps import describe

    value: dict[str, Any]
    if isinstance(source, os.PathLike) or (isinstance(source, str) and "://" not in source):
        value = {"path": os.path.abspath(os.fspath(source)), "name": os.fspath(source)}
    elif isinstance(source, str):
        value = {"url": source, "name": describe(source)}
    else:
        if isinstance(source, Document):
            data = source.data
        elif isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
        else:
            data = source.read()
        value = {"data": base64.b64encode(data).decode("ascii"), "name": describe(source)}
        if value["name"].startswith("<"):
            value["name"] = "<bytes>"
    return ("doc", str(index)), _dump(value)


def load_source(record: Mapping[str, Any], pipeline: Pipeline) -> Document:
    """Loads a document from its ``doc`` record, named as it was at submission."""
    import base64 as b64

    if "path" in record or "url" in record:
        document = pipeline.load(record.get("path") or record["url"])
    else:
        document = pipeline.load(b64.b64decode(record["data"]))
    return dataclasses.replace(document, name=str(record.get("name") or document.name))


@dataclasses.dataclass(frozen=True)
class RequestRecord:
    """One submitted item: attempt ``attempt`` of request ``sequence`` of document ``document``."""

    custom_id: str
    document: int
    sequence: int
    attempt: int
    batch: str
    digest: str
    document_id: str

    def record(self) -> tuple[tuple[str, str], str]:
        """Returns the store record."""
        value = dataclasses.asdict(self)
        del value["custom_id"]
        return ("req", self.custom_id), _dump(value)


@dataclasses.dataclass
class JobState:
    """Everything stored about a job, read at once."""

    meta: JobMeta
    docs: dict[int, dict[str, Any]]
    batches: dict[str, dict[str, Any]]
    requests: dict[str, RequestRecord]
    results: dict[str, dict[str, Any]]

    @classmethod
    def load(cls, store: BatchStore, job_id: str) -> JobState:
        """Reads the job.

        Raises:
            ConfigurationError: The store has no such job.
        """
        meta = store.read(job_id, "meta").get("job")
        if meta is None:
            raise ConfigurationError(
                f"No batch job {job_id!r} in the batch store at {store.location}; check the id, and use the same "
                "cache (--cache / cache=) as the submission."
            )
        requests = {
            key: RequestRecord(custom_id=key, **json.loads(text)) for key, text in store.read(job_id, "req").items()
        }
        return cls(
            meta=JobMeta.parse(meta),
            docs={int(key): json.loads(text) for key, text in store.read(job_id, "doc").items()},
            batches={key: json.loads(text) for key, text in store.read(job_id, "batch").items()},
            requests=requests,
            results={key: json.loads(text) for key, text in store.read(job_id, "res").items()},
        )

    def attempts(self, document: int) -> dict[int, list[Attempt]]:
        """Returns the document's attempts by request number, oldest attempt first."""
        found: dict[int, list[RequestRecord]] = {}
        for request in self.requests.values():
            if request.document == document:
                found.setdefault(request.sequence, []).append(request)
        return {
            sequence: [self._attempt(record) for record in sorted(records, key=lambda record: record.attempt)]
            for sequence, records in found.items()
        }

    def _attempt(self, record: RequestRecord) -> Attempt:
        result = self.results.get(record.custom_id)
        if result is None and self.batches.get(record.batch, {}).get("collected"):
            result = {"type": "expired"}  # its batch ended without a line for it: never processed
        return Attempt(record.custom_id, record.digest, result)

    def owners(self) -> dict[str, int]:
        """Returns ``document_id -> first document position`` of every document that was sent."""
        owners: dict[str, int] = {}
        for request in self.requests.values():
            owners[request.document_id] = min(owners.get(request.document_id, request.document), request.document)
        return owners

    def rounds(self) -> int:
        """Returns how many rounds were submitted."""
        return max((int(batch["round"]) for batch in self.batches.values()), default=0)

    def open_batches(self) -> list[str]:
        """Returns the batches whose results are not stored yet, oldest round first."""
        pending = [(int(info["round"]), key) for key, info in self.batches.items() if not info.get("collected")]
        return [key for _, key in sorted(pending)]


def batch_records(round_number: int, batch_id: str, items: Sequence[tuple[BatchRequest, RequestRecord]]) -> Records:
    """Returns the atomic group written right after a batch is created: the batch and its items."""
    records: dict[tuple[str, str], str] = {}
    info = {"round": round_number, "requests": len(items), "bytes": sum(request.size for request, _ in items),
            "created_at": now_iso(), "collected": False}  # fmt: skip
    records[("batch", batch_id)] = _dump(info)
    for _, record in items:
        name, value = record.record()
        records[name] = value
    return records


def collected_record(batch_id: str, info: Mapping[str, Any], counts: Mapping[str, int]) -> Records:
    """Returns the record that marks a batch's results as stored."""
    return {("batch", batch_id): _dump({**info, "collected": True, "counts": dict(counts)})}


def result_records(results: Iterator[tuple[str, Mapping[str, Any]]]) -> Records:
    """Returns the ``res`` records of a batch's result lines."""
    return {("res", custom_id): _dump(result) for custom_id, result in results}


@dataclasses.dataclass(frozen=True)
class BatchJob:
    """A Message Batches job as its store describes it (no results; see :meth:`~invoiceai.Extractor.collect_batch`).

    Attributes:
        id: The job id, for :meth:`~invoiceai.Extractor.collect_batch` and ``invoiceai batch collect``.
        created_at: When it was submitted (ISO 8601, UTC).
        model: The model.
        documents: Documents in the job, e-invoices and cached ones included.
        sent: Documents that needed the model (the others never reach a batch).
        rounds: Rounds submitted so far (follow-ups for re-asks, retries and later chunks).
        batches: Message Batches created so far, over every round.
        requests: Batch items submitted so far (each attempt counts).
        answered: Items whose results are stored.
        state: ``"in_progress"`` while a batch runs; ``"ended"`` when every batch has ended (a
            collect then finishes the job, or submits a follow-up round).
    """

    id: str
    created_at: str
    model: str
    documents: int
    sent: int
    rounds: int
    batches: int
    requests: int
    answered: int
    state: Literal["in_progress", "ended"]

    @classmethod
    def of(cls, state: JobState, *, running: int | None = None) -> BatchJob:
        """Summarises a job's stored state.

        Args:
            state: What the store holds.
            running: Batches the API says are still running (``None``: every batch whose
                results are not stored counts as running).
        """
        running = len(state.open_batches()) if running is None else running
        return cls(
            id=state.meta.id, created_at=state.meta.created_at, model=state.meta.model,
            documents=state.meta.documents, sent=len({record.document for record in state.requests.values()}),
            rounds=state.rounds(), batches=len(state.batches), requests=len(state.requests),
            answered=sum(1 for key in state.requests if key in state.results),
            state="in_progress" if running else "ended",
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """Returns the fields as a JSON-ready dict."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class BatchProgress:
    """What one look at a job found: the results known so far, in input order.

    Attributes:
        job: The job after this look (new rounds included).
        results: One entry per document, in input order: its result, or ``None`` while a request
            of it is in a batch that has not ended.
    """

    job: BatchJob
    results: tuple[Result | None, ...]

    @property
    def finished(self) -> bool:
        """Every document has its result."""
        return all(result is not None for result in self.results)

    @property
    def usage(self) -> Usage:
        """Tokens, requests and cost of the results known so far, at the batch price."""
        total = Usage()
        for result in self.results:
            if result is not None:
                total = total + result.usage
        return total
