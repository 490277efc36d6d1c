"""The Message Batches side of a :class:`~invoiceai.backends.claude.ClaudeBackend`: jobs and endpoints.

:meth:`ClaudeBackend.batch_session() <invoiceai.backends.claude.ClaudeBackend.batch_session>`
returns a :class:`BatchSession`: the backend's jobs, priced at the batch rate, and the three calls
a batch job makes (create, retrieve, results) through the backend's sync client. SDK errors leave
as the typed invoiceai errors a live call raises, masked. Reads (retrieve, results) are retried by
the SDK; a create is not, since a create that reached the server and timed out on the way back
would be paid twice if sent again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from invoiceai.backends.claude.api_errors import to_backend_error
from invoiceai.backends.claude.call import message_dict
from invoiceai.errors import BackendError

if TYPE_CHECKING:
    from invoiceai.backends.base import ExtractOptions
    from invoiceai.backends.claude.batch.items import BatchRequest
    from invoiceai.backends.claude.job import ExtractionJob
    from invoiceai.pages import PageSource

__all__ = ["BatchInfo", "BatchSession"]

_T = TypeVar("_T")
_READ_RETRIES = 4

JobFactory = Callable[["PageSource", type[Any], "ExtractOptions"], "ExtractionJob[Any]"]


@dataclasses.dataclass(frozen=True)
class BatchInfo:
    """What ``GET /v1/messages/batches/{id}`` says about a batch.

    Attributes:
        id: The batch id.
        processing_status: ``in_progress``, ``canceling`` or ``ended``.
        request_counts: ``processing``, ``succeeded``, ``errored``, ``canceled``, ``expired``.
    """

    id: str
    processing_status: str
    request_counts: Mapping[str, int]

    @property
    def ended(self) -> bool:
        """Every request has a result (the results can be read)."""
        return self.processing_status == "ended"


class BatchSession:
    """Jobs priced at the batch rate and the batch endpoints of one backend.

    Args:
        client: A sync anthropic client (Bedrock and Vertex have no Message Batches API).
        new_job: Builds a job for a source, schema and options (the backend's own, batch-priced).
        model: The model id the jobs use.
        max_attempts: Attempts per request, as live (``Settings.max_attempts``).
        secrets: Literal values to mask from errors (the API key).
    """

    def __init__(
        self, *, client: Any, new_job: JobFactory, model: str, max_attempts: int, secrets: tuple[str, ...] = ()
    ) -> None:
        self._client = client
        self._new_job = new_job
        self.model = model
        self.max_attempts = max_attempts
        self.secrets = secrets

    def new_job(
        self, source: PageSource, schema: type[Any], *, document_id: str, validation_context: Mapping[str, Any] | None
    ) -> ExtractionJob[Any]:
        """Returns a new job for ``source``, priced at the batch rate."""
        return self._new_job(source, schema, {"document_id": document_id, "validation_context": validation_context})

    def create(self, requests: Sequence[BatchRequest]) -> BatchInfo:
        """Creates a batch of ``requests`` (``POST /v1/messages/batches``), sent once."""
        batches = self._batches(retries=0)
        return self._call(lambda: _info(batches.create(requests=[request.to_dict() for request in requests])))

    def retrieve(self, batch_id: str) -> BatchInfo:
        """Returns the batch's status (``GET /v1/messages/batches/{id}``)."""
        batches = self._batches(retries=_READ_RETRIES)
        return self._call(lambda: _info(batches.retrieve(batch_id)))

    def results(self, batch_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yields ``(custom_id, result)`` for every item of an ended batch, in the order they come."""
        batches = self._batches(retries=_READ_RETRIES)
        lines = self._call(lambda: batches.results(batch_id))
        iterator = iter(lines)
        while True:
            line = self._call(lambda: next(iterator, None))
            if line is None:
                return
            item = message_dict(line)
            result = item.get("result")
            yield str(item.get("custom_id")), dict(result) if isinstance(result, Mapping) else {}

    def _batches(self, *, retries: int) -> Any:
        batches = getattr(getattr(self._client, "messages", None), "batches", None)
        if batches is None:
            raise BackendError(
                f"The client {type(self._client).__name__} has no Message Batches API; "
                "use an anthropic.Anthropic client."
            )
        return self._client.with_options(max_retries=retries).messages.batches

    def _call(self, operation: Callable[[], _T]) -> _T:
        import anthropic

        try:
            return operation()
        except anthropic.AnthropicError as exc:
            error = to_backend_error(exc, attempts=1, secrets=self.secrets)
        raise error


def _info(batch: Any) -> BatchInfo:
    data = message_dict(batch)
    counts = data.get("request_counts")
    counts = counts if isinstance(counts, Mapping) else {}
    return BatchInfo(
        id=str(data.get("id")),
        processing_status=str(data.get("processing_status")),
        request_counts={str(key): int(value) for key, value in counts.items()},
    )
