"""The errors of Message Batches jobs that concern the job, not one document."""

from __future__ import annotations

from invoiceai.errors import InvoiceAIError

__all__ = ["BatchBusyError", "BatchJobError", "BatchTimeoutError"]


class BatchJobError(InvoiceAIError):
    """A batch job could not be looked at or collected now; it is stored and can be resumed.

    Attributes:
        job_id: The job concerned.
    """

    def __init__(self, message: str, *, job_id: str) -> None:
        super().__init__(message)
        self.job_id = job_id


class BatchBusyError(BatchJobError):
    """Another collector holds the job's lease (it is replaying the job and sending its follow-ups).

    :meth:`~invoiceai.Extractor.collect_batch` waits for it instead; ``poll_batch`` and
    ``invoiceai batch collect --no-wait`` report it. A collector that was killed holds the lease
    only until it expires (``BatchRunner.lease_seconds``).
    """


class BatchTimeoutError(BatchJobError):
    """``collect_batch(timeout=...)`` ran out of time before every document had its result."""
