"""The Claude backend through the Message Batches API: half the price, answers within 24 hours.

Modules, one job each:

* ``items``: custom ids, per-batch limits, splitting a round into batches, reading a result.
* ``replay``: one document's live :class:`~invoiceai.backends.claude.job.ExtractionJob`, fed the
  stored answers of earlier rounds until it needs a new one.
* ``session``: the backend's batch-priced jobs and the batch endpoints (create, retrieve, results).

The job's durable state and the rounds are the extractor's (:mod:`invoiceai.extractor.batch_jobs`).
"""

from __future__ import annotations

from invoiceai.backends.claude.batch.items import API_LIMITS, BatchLimits, BatchRequest
from invoiceai.backends.claude.batch.replay import Attempt, Finished, Submit, Waiting, replay
from invoiceai.backends.claude.batch.session import BatchInfo, BatchSession

__all__ = [
    "API_LIMITS",
    "Attempt",
    "BatchInfo",
    "BatchLimits",
    "BatchRequest",
    "BatchSession",
    "Finished",
    "Submit",
    "Waiting",
    "replay",
]
