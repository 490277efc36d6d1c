"""The Message Batches endpoints of the fake Claude API, with the real shapes and switches for failures.

:class:`FakeBatches` is :attr:`FakeClaudeAPI.batches <invoiceai.testing.FakeClaudeAPI.batches>`;
it answers, through the in-process transport and the loopback server alike:

* ``POST /v1/messages/batches``: checks the items as the API does (``custom_id`` of 1-64 letters,
  digits, ``-`` and ``_``, unique; at most 100,000 items and 256 MB) and creates a batch.
* ``GET /v1/messages/batches`` and ``GET /v1/messages/batches/{id}``: the ``message_batch``
  object: ``processing_status`` (``in_progress``, ``ended``), ``request_counts``, ``results_url``.
* ``GET /v1/messages/batches/{id}/results``: JSON Lines, one ``{"custom_id", "result"}`` per item,
  in a shuffled order (results come in any order): ``succeeded`` with the ``message``, ``errored``
  with the error body, ``canceled`` or ``expired``.
* ``POST /v1/messages/batches/{id}/cancel``.

Each item is answered exactly as ``POST /v1/messages`` with its ``params`` would be (the same
checks, the same answer, the same queued :class:`~invoiceai.testing.Fault` s: a ``Fault.reply``
queued on the API makes an item's reply invalid, a status fault makes it ``errored``), and is
billed at the batch tier (``usage.service_tier == "batch"``). On top of that, the switches:

* :meth:`FakeBatches.enqueue` queues :class:`ItemFault` s (``errored``, ``expired``, ``canceled``),
  one per item processed, in order; ``None`` lets an item through.
* :attr:`FakeBatches.outcome` decides per item from its ``custom_id`` and ``params``.
* :attr:`FakeBatches.auto_end`: batches end as soon as they are created (the default), or stay
  ``in_progress`` until :meth:`FakeBatches.end`.
"""

from __future__ import annotations

import dataclasses
import datetime
import itertools
import json
import random
import re
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from invoiceai.testing.plans import Plan, error_plan
from invoiceai.testing.queue import AnswerQueue
from invoiceai.testing.request_body import json_bytes

if TYPE_CHECKING:
    from invoiceai.testing.fake_api import FakeClaudeAPI, RecordedRequest

__all__ = ["FakeBatch", "FakeBatches", "ItemFault"]

_CUSTOM_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_MAX_REQUESTS = 100_000
_MAX_BYTES = 256 * 1024 * 1024
_PATH = re.compile(r"/v1/messages/batches(?:/([^/]+))?(?:/(results|cancel))?$")


@dataclasses.dataclass(frozen=True)
class ItemFault:
    """What happens to one batch item instead of an answer. Build them with the class methods.

    Attributes:
        kind: ``errored``, ``expired`` or ``canceled``.
        error_type: ``error.type`` of an errored item (``api_error`` is retryable,
            ``invalid_request_error`` is not).
        message: ``error.message`` of an errored item.
    """

    kind: Literal["errored", "expired", "canceled"]
    error_type: str = "api_error"
    message: str = "fake batch item error"

    @classmethod
    def errored(cls, error_type: str = "api_error", message: str = "Internal server error") -> ItemFault:
        """An ``errored`` item with the API's error body."""
        return cls("errored", error_type, message)

    @classmethod
    def expired(cls) -> ItemFault:
        """An item the batch did not process within 24 hours."""
        return cls("expired")

    @classmethod
    def canceled(cls) -> ItemFault:
        """An item of a batch canceled before it was processed."""
        return cls("canceled")


@dataclasses.dataclass
class FakeBatch:
    """One batch the fake holds.

    Attributes:
        id: ``msgbatch_fake_...``.
        created_at: When it was created (UTC).
        requests: Its items, ``(custom_id, params)``, in the order sent.
        results: ``custom_id -> result`` once processed, else ``None``.
        canceling: A cancel was asked for before it ended.
    """

    id: str
    created_at: datetime.datetime
    requests: list[tuple[str, dict[str, Any]]] = dataclasses.field(repr=False)
    results: dict[str, dict[str, Any]] | None = dataclasses.field(default=None, repr=False)
    canceling: bool = False

    def to_dict(self, base_url: str) -> dict[str, Any]:
        """The ``message_batch`` object."""
        counts = dict.fromkeys(("processing", "succeeded", "errored", "canceled", "expired"), 0)
        if self.results is None:
            counts["processing"] = len(self.requests)
        else:
            for result in self.results.values():
                counts[result["type"]] += 1
        ended = self.results is not None
        stamp = self.created_at.isoformat().replace("+00:00", "Z")
        return {
            "id": self.id, "type": "message_batch", "processing_status": "ended" if ended else "in_progress",
            "request_counts": counts, "created_at": stamp, "ended_at": stamp if ended else None,
            "expires_at": (self.created_at + datetime.timedelta(hours=24)).isoformat().replace("+00:00", "Z"),
            "archived_at": None, "cancel_initiated_at": stamp if self.canceling else None,
            "results_url": f"{base_url}/v1/messages/batches/{self.id}/results" if ended else None,
        }  # fmt: skip


class FakeBatches:
    """The batch endpoints of one :class:`~invoiceai.testing.FakeClaudeAPI`. Thread-safe.

    Args:
        api: The fake whose Messages answers the items get.
        seed: Seeds the order results are listed in.

    Attributes:
        auto_end: Process a batch as soon as it is created (else at :meth:`end`).
        outcome: Called as ``outcome(custom_id, params)`` for every item before the queue; an
            :class:`ItemFault` it returns happens to the item, ``None`` lets it through.
        batches: Every batch created, by id, in creation order.
    """

    def __init__(self, api: FakeClaudeAPI, *, seed: int = 0) -> None:
        self.api = api
        self.auto_end = True
        self.outcome: Callable[[str, Mapping[str, Any]], ItemFault | None] | None = None
        self.batches: dict[str, FakeBatch] = {}
        self._faults: AnswerQueue[ItemFault | None] = AnswerQueue()
        self._random = random.Random(seed)
        self._ids = itertools.count(1)
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"FakeBatches(batches={len(self.batches)}, queued={len(self._faults)})"

    def enqueue(self, *faults: ItemFault | None) -> FakeBatches:
        """Queues what happens to the next items processed, one each (``None``: answered normally)."""
        self._faults.extend(faults)
        return self

    @property
    def submitted(self) -> list[str]:
        """The ``custom_id`` of every item of every batch, in the order they were sent."""
        with self._lock:
            return [custom_id for batch in self.batches.values() for custom_id, _ in batch.requests]

    def end(self, batch_id: str | None = None) -> None:
        """Processes batch ``batch_id`` now (every batch still in progress when ``None``)."""
        with self._lock:
            chosen = [self.batches[batch_id]] if batch_id is not None else list(self.batches.values())
            for batch in chosen:
                if batch.results is None:
                    self._process(batch)

    # -- the endpoints ------------------------------------------------------------------------------

    def plan(self, record: RecordedRequest, parsed: Any) -> Plan:
        """Answers one request to a ``/v1/messages/batches`` path."""
        match = _PATH.search(record.path)
        batch_id, action = (match[1], match[2]) if match else (None, None)
        base = _base_url(record.headers.get("host", "api.anthropic.com"))
        rid = record.request_id
        with self._lock:
            if record.method == "POST" and batch_id is None:
                return self._create(parsed, base, rid)
            if record.method == "GET" and batch_id is None:
                data = [batch.to_dict(base) for batch in reversed(self.batches.values())]
                ids = [item["id"] for item in data]
                listing = {"data": data, "has_more": False, "first_id": ids[0] if ids else None,
                           "last_id": ids[-1] if ids else None}  # fmt: skip
                return _json(listing, rid)
            batch = self.batches.get(batch_id or "")
            if batch is None:
                return error_plan(404, "not_found_error", f"no message batch {batch_id}", rid)
            if action == "results" and record.method == "GET":
                return self._results(batch, rid)
            if action == "cancel" and record.method == "POST":
                batch.canceling = True
                if batch.results is None:
                    batch.results = {custom_id: {"type": "canceled"} for custom_id, _ in batch.requests}
                return _json(batch.to_dict(base), rid)
            if action is None and record.method == "GET":
                return _json(batch.to_dict(base), rid)
        return error_plan(404, "not_found_error", f"fake API has no {record.method} {record.path}", rid)

    def _create(self, parsed: Any, base: str, rid: str) -> Plan:
        requests = parsed.get("requests") if isinstance(parsed, dict) else None
        problem = _check_items(requests, len(json_bytes(parsed)) if isinstance(parsed, dict) else 0)
        if problem is not None:
            return error_plan(400, "invalid_request_error", problem, rid)
        assert isinstance(requests, list)
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        batch = FakeBatch(
            f"msgbatch_fake_{next(self._ids):06d}", now, [(r["custom_id"], r["params"]) for r in requests]
        )
        self.batches[batch.id] = batch
        if self.auto_end:
            self._process(batch)
        return _json(batch.to_dict(base), rid)

    def _results(self, batch: FakeBatch, rid: str) -> Plan:
        if batch.results is None:
            return error_plan(404, "not_found_error", f"message batch {batch.id} has not ended; no results yet", rid)
        lines = [{"custom_id": custom_id, "result": result} for custom_id, result in batch.results.items()]
        self._random.shuffle(lines)
        body = b"".join(json_bytes(line) + b"\n" for line in lines)
        return Plan("respond", 200, (("request-id", rid),), body)

    def _process(self, batch: FakeBatch) -> None:
        results: dict[str, dict[str, Any]] = {}
        for custom_id, params in batch.requests:
            fault = self.outcome(custom_id, params) if self.outcome is not None else None
            fault = fault or self._faults.pop()
            results[custom_id] = _lost(fault) if fault is not None else self._answer(params)
        batch.results = results

    def _answer(self, params: dict[str, Any]) -> dict[str, Any]:
        status, body = self.api.answer_body(params)
        if status != 200:
            return {
                "type": "errored",
                "error": body or {"type": "error", "error": {"type": "api_error", "message": "reset"}},
            }
        usage = body.get("usage")
        if isinstance(usage, dict):
            usage["service_tier"] = "batch"
        return {"type": "succeeded", "message": body}


def _lost(fault: ItemFault) -> dict[str, Any]:
    if fault.kind != "errored":
        return {"type": fault.kind}
    error = {"type": "error", "error": {"type": fault.error_type, "message": fault.message}}
    return {"type": "errored", "error": error}


def _check_items(requests: Any, size: int) -> str | None:
    """Returns what the API would say about the items, or ``None`` when they are fine."""
    if not isinstance(requests, list) or not requests:
        return "requests: a non-empty list is required"
    if len(requests) > _MAX_REQUESTS:
        return f"requests: at most {_MAX_REQUESTS} requests per batch, got {len(requests)}"
    if size > _MAX_BYTES:
        return f"the batch is {size} bytes; at most {_MAX_BYTES} are allowed"
    seen: set[str] = set()
    for number, item in enumerate(requests):
        custom_id = item.get("custom_id") if isinstance(item, dict) else None
        if not isinstance(custom_id, str) or not _CUSTOM_ID.match(custom_id):
            return f"requests.{number}.custom_id: 1-64 letters, digits, '-' or '_' are required"
        if custom_id in seen:
            return f"requests.{number}.custom_id: {custom_id!r} is used twice in this batch"
        seen.add(custom_id)
        if not isinstance(item.get("params"), dict):
            return f"requests.{number}.params: an object is required"
    return None


def _base_url(host: str) -> str:
    # The results URL points back at whichever address the client used: the loopback server
    # over plain HTTP, the in-process transport under the API's own name.
    loopback = host.startswith(("127.", "localhost", "[::1]"))
    return f"{'http' if loopback else 'https'}://{host}"


def _json(value: Any, rid: str) -> Plan:
    return Plan("respond", 200, (("request-id", rid),), json.dumps(value).encode("utf-8"))
