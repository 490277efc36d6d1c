"""A create whose answer was lost: finding the batch it made, or learning that it made none.

Before a batch is created, its items are written down as a *pending round*
(:class:`~invoiceai.extractor.batch_state.PendingRound`: the round, the items, the time). Right
after the create answers, one atomic write records the batch and marks the round resolved. If the
answer never comes (a timeout, a dropped connection, a kill at that instant), nobody knows
whether the API made the batch; sending the items again could pay for them twice.

So the next look (:func:`resolve_pending`) lists the batches created since the round was written
(``GET /v1/messages/batches``, newest first) and considers those it does not know that hold as
many requests as the round. The custom ids start with the job's own prefix, so a candidate is
the round's batch exactly when its result lines carry the round's custom ids:

* a candidate that has ended is checked by its results; the one that matches is adopted (the
  batch is recorded as if the create had answered, and collected as usual);
* while a candidate is still running it cannot be checked, so the round stays pending and its
  documents wait (as they would for their own batch);
* when no candidate is left, the create made nothing: the round is resolved ``"none"`` and its
  items are sent again in this look.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

from invoiceai.extractor.batch_state import PendingRound, batch_records, resolved_record

if TYPE_CHECKING:
    from invoiceai.backends.claude.batch.session import BatchInfo, BatchSession
    from invoiceai.cache.batch_store import BatchStore
    from invoiceai.extractor.batch_state import JobState

__all__ = ["CLOCK_SLACK", "resolve_pending"]

CLOCK_SLACK = datetime.timedelta(minutes=10)
"""How far the API's clock may be behind ours: batches created this much before a round still count."""


def resolve_pending(state: JobState, session: BatchSession, store: BatchStore) -> bool:
    """Resolves every unresolved pending round of the job it can; tells whether any record changed."""
    from invoiceai.backends.claude.batch.session import BatchGoneError

    rounds = state.unresolved()
    if not rounds:
        return False
    since = min(_time(pending.created_at) for pending in rounds) - CLOCK_SLACK
    candidates = [info for info in session.list_since(since) if info.id not in state.batches]
    changed = False
    for pending in rounds:
        wanted = {record.custom_id for record in pending.requests}
        waiting = False
        for info in _fitting(candidates, pending):
            if not info.ended:
                waiting = True
                continue
            try:
                found = {custom_id for custom_id, _ in session.results(info.id)}
            except BatchGoneError:
                continue
            if found == wanted:
                store.put(state.meta.id, batch_records(pending.round, info.id, pending.requests, pending=pending))
                candidates.remove(info)
                break
        else:
            if waiting:
                continue
            store.put(state.meta.id, resolved_record(pending, "none"))
        changed = True
    return changed


def _fitting(candidates: list[BatchInfo], pending: PendingRound) -> list[BatchInfo]:
    earliest = _time(pending.created_at) - CLOCK_SLACK
    return [
        info
        for info in candidates
        if info.size == len(pending.requests) and (info.created_at is None or info.created_at >= earliest)
    ]


def _time(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text)
