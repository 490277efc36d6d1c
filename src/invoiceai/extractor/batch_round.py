"""What one look at a batch job decides, and how it sends the requests it needs: a batch round, or live.

:class:`Look` is what a look has found and decided so far (results, the requests queued for the
next round). :class:`RoundSender` sends the queued requests:

* **as batches** (the default): cut within the per-batch limits; each written down as pending,
  created, then recorded with its items in one atomic write
  (:mod:`~invoiceai.extractor.batch_pending` finds a batch whose create went unanswered);
* **live**, for a collect with ``follow_up="live"``: every request the collect has to send (a
  re-ask, a truncation retry, a retry of an ``errored`` or ``expired`` item, a later chunk) goes
  as a live request at once, the SDK retrying it as live calls are retried. Its request record
  (batch :data:`~invoiceai.extractor.batch_state.LIVE`) and its result are written together as
  soon as the answer is here, so a collect killed later sends nothing twice; a collect killed
  *during* the call sends that one request again. The decision which requests are needed is the
  same either way (the replay's); only the transport and the price differ.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from invoiceai.backends.claude.batch.items import BatchRequest, custom_id, params_digest, split_batches
from invoiceai.backends.claude.batch.session import BatchRejectedError
from invoiceai.errors import BackendConnectionError, BackendError
from invoiceai.extractor.batch_state import (
    LIVE,
    JobState,
    RequestRecord,
    batch_records,
    pending_record,
    rejected_records,
    resolved_record,
    result_records,
)
from invoiceai.usage import Usage

if TYPE_CHECKING:
    from invoiceai.backends.claude.batch.replay import Submit
    from invoiceai.backends.claude.batch.session import BatchSession
    from invoiceai.cache.batch_store import BatchStore
    from invoiceai.extractor.batch_errors import BatchBusyError
    from invoiceai.extractor.batch_state import Result
    from invoiceai.extractor.pipeline import Pipeline

__all__ = ["FOLLOW_UPS", "FollowUp", "Look", "RoundSender", "live_usage"]

FollowUp = Literal["batch", "live"]
"""How a collect sends the requests it needs: in a follow-up batch (half price) or live (now, full price)."""

FOLLOW_UPS: tuple[FollowUp, ...] = ("batch", "live")


@dataclasses.dataclass
class Look:
    """What one look has found and decided so far.

    Attributes:
        live: Send the queued requests live instead of in a batch.
    """

    state: JobState
    pipeline: Pipeline
    max_attempts: int
    results: dict[int, Result] = dataclasses.field(default_factory=dict)
    owners: dict[str, int] = dataclasses.field(default_factory=dict)
    copies: dict[int, int] = dataclasses.field(default_factory=dict)
    queued: list[tuple[BatchRequest, RequestRecord]] = dataclasses.field(default_factory=list)
    round: int = 0
    changed: bool = False
    live: bool = False


class RoundSender:
    """Sends the requests a look queued, keeping the job's lease while it does.

    Args:
        session: The Claude backend's batch side.
        store: Where the job keeps its state.
        owner: This collector's lease owner.
        lease_seconds: How long a renewed lease lasts.
        busy: The error for a lease another collector took meanwhile.
    """

    def __init__(
        self,
        session: BatchSession,
        store: BatchStore,
        *,
        owner: str,
        lease_seconds: float,
        busy: Callable[[str], BatchBusyError],
    ) -> None:
        self.session = session
        self.store = store
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.busy = busy

    def queue(self, look: Look, index: int, document_id: str, outcome: Submit) -> None:
        """Queues the request a replay asked for, and the chunks it sends ahead beside it."""
        for submit in (outcome, *outcome.also):
            prefix = look.state.meta.prefix
            identifier = custom_id(index, submit.sequence, submit.attempt, prefix=prefix, ahead=submit.ahead)
            record = RequestRecord(
                custom_id=identifier, document=index, sequence=submit.sequence, attempt=submit.attempt,
                batch="", digest=params_digest(submit.params), document_id=document_id, ahead=submit.ahead,
            )  # fmt: skip
            look.queued.append((BatchRequest.of(identifier, submit.params), record))
        look.owners.setdefault(document_id, index)

    def flush(self, look: Look, *, final: bool) -> None:
        """Sends what is queued: live at once, or the batches it fills (all of them when ``final``)."""
        if look.live:
            items, look.queued = look.queued, []
            for request, record in items:
                self._send_live(look, request, record)
            return
        limits = look.state.meta.limits
        while look.queued:
            batches = list(split_batches([request for request, _ in look.queued], limits))
            if not final and len(batches) < 2:
                return  # the first batch may still fill up
            size = len(batches[0])
            items, look.queued = look.queued[:size], look.queued[size:]
            self._create(look, items)
            look.changed = True

    def _renew(self, job_id: str) -> None:
        if not self.store.lease(job_id, self.owner, self.lease_seconds):
            raise self.busy(job_id)  # the lease ran out and another collector took the job: send nothing

    def _create(self, look: Look, items: list[tuple[BatchRequest, RequestRecord]]) -> None:
        """Sends one batch: pending record, create, then the batch record (or the refusal) in one write."""
        job_id = look.state.meta.id
        self._renew(job_id)
        pending = pending_record(look.round, [record for _, record in items])
        self.store.put(job_id, dict([pending.record()]))
        try:
            info = self.session.create([request for request, _ in items])
        except BatchRejectedError as exc:  # the API refused this batch: only its documents fail
            self.store.put(job_id, rejected_records(pending, exc.body, exc.message))
            return
        except BackendConnectionError:
            raise  # no answer: the batch may exist; the next look looks for it
        except BackendError:
            self.store.put(job_id, resolved_record(pending, "none"))  # the API answered: it made no batch
            raise
        size = sum(request.size for request, _ in items)
        self.store.put(job_id, batch_records(look.round, info.id, pending.requests, size=size, pending=pending))

    def _send_live(self, look: Look, request: BatchRequest, record: RequestRecord) -> None:
        """Sends one request live; stores its record and result in one write once the answer is here."""
        job_id = look.state.meta.id
        self._renew(job_id)
        result = self.session.send_live(request.params)
        name, value = dataclasses.replace(record, batch=LIVE).record()
        self.store.put(job_id, {name: value, **result_records([(record.custom_id, result)], [record.custom_id])})
        look.changed = True


def live_usage(state: JobState, session: BatchSession) -> Usage:
    """The tokens, requests and cost of the job's follow-ups sent live, at the live price."""
    total = Usage()
    for key, record in state.requests.items():
        result = state.results.get(key)
        if record.batch != LIVE or result is None:
            continue
        total = total + (session.usage_of(result, True) if result.get("type") == "succeeded" else Usage(requests=1))
    return total
