"""The Message Batches side of a :class:`~invoiceai.backends.claude.ClaudeBackend`: jobs and endpoints.

:meth:`ClaudeBackend.batch_session() <invoiceai.backends.claude.ClaudeBackend.batch_session>`
returns a :class:`BatchSession`: the backend's jobs, priced at the batch rate, and the calls a
batch job makes (create, retrieve, results, list) through the backend's sync client. Every
failure leaves as a typed invoiceai error, masked: SDK errors as a live call raises them, a
broken results stream (a network error, bytes that are not text) as a :class:`BackendError`.
Reads are retried by the SDK; a create is not, since a create that reached the server and timed
out on the way back would be paid twice if sent again (the job finds such a batch by listing).

Two outcomes get their own types, because the job acts on them instead of stopping:
:class:`BatchRejectedError` (the API refused a create with 400 or 413: only the documents in that
batch fail) and :class:`BatchGoneError` (404 for a batch or its results: archived, deleted, or
past the 29 days results are kept; its items count as expired).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from invoiceai.backends.claude.api_errors import to_backend_error
from invoiceai.backends.claude.call import message_dict
from invoiceai.errors import BackendConnectionError, BackendError, RequestRejectedError
from invoiceai.secrets import get_logger, mask_text

if TYPE_CHECKING:
    from invoiceai.backends.base import ExtractOptions
    from invoiceai.backends.claude.batch.items import BatchRequest
    from invoiceai.backends.claude.job import ExtractionJob
    from invoiceai.backends.claude.prices import PriceTable
    from invoiceai.pages import PageSource
    from invoiceai.usage import Usage

__all__ = ["BatchGoneError", "BatchInfo", "BatchRejectedError", "BatchSession", "ResultLines"]

_T = TypeVar("_T")
_READ_RETRIES = 4
_LIST_PAGE = 100
_LOG = get_logger("invoiceai.batches")

JobFactory = Callable[["PageSource", type[Any], "ExtractOptions"], "ExtractionJob[Any]"]


class BatchRejectedError(RequestRejectedError):
    """The API refused to create a batch (400 or 413); ``body`` is its error body, as sent."""

    body: Mapping[str, Any] | None = None


class BatchGoneError(BackendError):
    """The API has no such batch, or no longer has its results (404)."""


@dataclasses.dataclass(frozen=True)
class BatchInfo:
    """What ``GET /v1/messages/batches/{id}`` says about a batch.

    Attributes:
        id: The batch id.
        processing_status: ``in_progress``, ``canceling`` or ``ended``.
        request_counts: ``processing``, ``succeeded``, ``errored``, ``canceled``, ``expired``.
        created_at: When the API created it (``None`` if it did not say).
    """

    id: str
    processing_status: str
    request_counts: Mapping[str, int]
    created_at: datetime.datetime | None = None

    @property
    def ended(self) -> bool:
        """Every request has a result (the results can be read)."""
        return self.processing_status == "ended"

    @property
    def size(self) -> int:
        """How many requests the batch holds."""
        return sum(self.request_counts.values())


class ResultLines:
    """The ``(custom_id, result)`` pairs of an ended batch, read line by line.

    A line that is not a JSON object with a ``custom_id`` is skipped (logged at ``INFO``: the
    library writes nothing to stderr by itself) and counted in :attr:`skipped`: its item then has
    no result, so it counts as expired and is sent again within ``max_attempts`` (its document's
    result says so in its warnings), instead of one bad line blocking the whole job.
    """

    def __init__(self, batch_id: str, lines: Iterator[str], call: Callable[[Callable[[], Any]], Any]) -> None:
        self.batch_id = batch_id
        self.skipped = 0
        self._lines = lines
        self._call = call

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any]]]:
        number = 0
        while (line := self._call(lambda: next(self._lines, None))) is not None:
            number += 1
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError:
                item = None
            if not isinstance(item, dict) or not isinstance(item.get("custom_id"), str):
                self.skipped += 1
                _LOG.info(
                    "Line %d of the results of Message Batch %s is not a result; its item counts as expired.",
                    number, self.batch_id,
                )  # fmt: skip
                continue
            result = item.get("result")
            yield item["custom_id"], dict(result) if isinstance(result, Mapping) else {}


class BatchSession:
    """Jobs priced at the batch rate and the batch endpoints of one backend.

    Args:
        client: A sync anthropic client (Bedrock and Vertex have no Message Batches API).
        new_job: Builds a job for a source, schema and options (the backend's own, batch-priced).
        model: The model id the jobs use.
        max_attempts: Attempts per request, as live (``Settings.max_attempts``).
        secrets: Literal values to mask from errors (the API key).
        max_reasks: The jobs' ``Settings.max_reasks`` (``None``: not known, not checked).
        token_budget: The jobs' ``Settings.token_budget`` (``None``: not known, not checked).
        prices: The backend's price table (default: the built-in one).
        live_retries: The SDK's own retries of a live follow-up (``send_live``).
    """

    def __init__(
        self,
        *,
        client: Any,
        new_job: JobFactory,
        model: str,
        max_attempts: int,
        secrets: tuple[str, ...] = (),
        max_reasks: int | None = None,
        token_budget: int | None = None,
        prices: PriceTable | None = None,
        live_retries: int = 2,
    ) -> None:
        self._client = client
        self._new_job = new_job
        self.model = model
        self.max_attempts = max_attempts
        self.secrets = secrets
        self.max_reasks = max_reasks
        self.token_budget = token_budget
        self._prices = prices
        self.live_retries = live_retries

    def new_job(
        self, source: PageSource, schema: type[Any], *, document_id: str, validation_context: Mapping[str, Any] | None
    ) -> ExtractionJob[Any]:
        """Returns a new job for ``source``, priced at the batch rate."""
        return self._new_job(source, schema, {"document_id": document_id, "validation_context": validation_context})

    def create(self, requests: Sequence[BatchRequest]) -> BatchInfo:
        """Creates a batch of ``requests`` (``POST /v1/messages/batches``), sent once.

        Raises:
            BatchRejectedError: The API refused the batch (400 or 413).
            BackendError: Anything else (a timeout may mean the batch was created all the same).
        """
        batches = self._batches(retries=0)
        return self._call(lambda: _info(batches.create(requests=[request.to_dict() for request in requests])))

    def send_live(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Sends one follow-up as a live request (``POST /v1/messages``) and returns its result as a batch line has it.

        The SDK retries it (``live_retries``, honouring ``retry-after``); what is left of a failure
        comes back as an ``errored`` result, so the job decides about it as about a batch item.
        A connection that broke before any answer raises instead: nothing is known to store.

        Raises:
            BackendConnectionError: No answer came back (the request may have been processed).
        """
        import anthropic

        client = self._client.with_options(max_retries=self.live_retries)
        try:
            message = client.messages.create(**params)
        except anthropic.APIStatusError as exc:
            body = exc.body if isinstance(exc.body, Mapping) else {"type": "error", "error": {"type": "api_error"}}
            return {"type": "errored", "error": _mask_json(dict(body), self.secrets)}
        except anthropic.AnthropicError as exc:
            raise to_backend_error(exc, attempts=1 + self.live_retries, secrets=self.secrets) from None
        return {"type": "succeeded", "message": message_dict(message)}

    def usage_of(self, result: Mapping[str, Any], live: bool) -> Usage:
        """The usage of a stored ``succeeded`` result, at the live or the batch price."""
        from invoiceai.backends.claude.prices import PriceTable
        from invoiceai.backends.claude.reply import parse_reply, reply_usage

        message = result.get("message")
        reply = parse_reply(message if isinstance(message, Mapping) else {})
        usage, _ = reply_usage(reply, prices=self._prices or PriceTable(), model=self.model, batch=not live)
        return usage

    def retrieve(self, batch_id: str) -> BatchInfo:
        """Returns the batch's status (``GET /v1/messages/batches/{id}``).

        Raises:
            BatchGoneError: The API has no such batch.
        """
        batches = self._batches(retries=_READ_RETRIES)
        return self._call(lambda: _info(batches.retrieve(batch_id)))

    def cancel(self, batch_id: str) -> BatchInfo:
        """Asks the API to cancel a batch (``POST /v1/messages/batches/{id}/cancel``); returns its status.

        Items not processed yet end ``canceled`` (and are not billed); the batch ends once the API
        has stopped them. Canceling an ended batch changes nothing.

        Raises:
            BatchGoneError: The API has no such batch.
        """
        batches = self._batches(retries=_READ_RETRIES)  # asking twice is harmless
        return self._call(lambda: _info(batches.cancel(batch_id)))

    def results(self, batch_id: str) -> ResultLines:
        """Returns the result lines of an ended batch, to iterate once.

        Raises:
            BatchGoneError: The results are no longer kept (or the batch is unknown).
            BackendError: The stream broke; nothing should be taken as complete then.
        """
        batches = self._batches(retries=_READ_RETRIES)
        decoder = self._call(lambda: batches.results(batch_id))
        # The SDK's own decoder stops for good at the first bad line; the raw lines let one skip it.
        response = decoder.http_response
        return ResultLines(batch_id, _closing(response.iter_lines(), response.close), self._call)

    def list_since(self, since: datetime.datetime) -> Iterator[BatchInfo]:
        """Yields the batches created at or after ``since``, newest first (``GET /v1/messages/batches``)."""
        batches = self._batches(retries=_READ_RETRIES)
        page = iter(self._call(lambda: batches.list(limit=_LIST_PAGE)))
        while (batch := self._call(lambda: next(page, None))) is not None:
            info = _info(batch)
            if info.created_at is not None and info.created_at < since:
                return
            yield info

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
        import httpx2

        try:
            return operation()
        except anthropic.APIStatusError as exc:
            error = to_backend_error(exc, attempts=1, secrets=self.secrets)
            if exc.status_code == 404:
                error = BatchGoneError(error.message, request_id=error.request_id)
            elif exc.status_code in (400, 413) and isinstance(error, RequestRejectedError):
                error = BatchRejectedError(error.message, attempts=1, request_id=error.request_id)
                error.body = exc.body if isinstance(exc.body, Mapping) else {}
        except anthropic.AnthropicError as exc:
            error = to_backend_error(exc, attempts=1, secrets=self.secrets)
        except httpx2.TransportError as exc:
            error = BackendConnectionError(self._broken(exc, "the connection broke"))
        except (httpx2.HTTPError, ValueError) as exc:
            error = BackendError(self._broken(exc, "the reply could not be read"))
        raise error

    def _broken(self, exc: BaseException, what: str) -> str:
        detail = mask_text(f"{type(exc).__name__}: {exc}", self.secrets)
        return f"A Message Batches call failed: {what} ({detail}). Nothing was lost; look at the job again later."


def _mask_json(value: Any, secrets: Sequence[str]) -> Any:
    """Returns ``value`` (JSON data) with every string masked: an API error body may echo a key."""
    if isinstance(value, str):
        return mask_text(value, secrets)
    if isinstance(value, Mapping):
        return {key: _mask_json(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask_json(item, secrets) for item in value]
    return value


def _closing(lines: Iterator[str], close: Callable[[], None]) -> Iterator[str]:
    try:
        yield from lines
    finally:
        close()


def _info(batch: Any) -> BatchInfo:
    data = message_dict(batch)
    counts = data.get("request_counts")
    counts = counts if isinstance(counts, Mapping) else {}
    created = data.get("created_at")
    if isinstance(created, str):
        try:
            created = datetime.datetime.fromisoformat(created.replace("Z", "+00:00"))
        except ValueError:
            created = None
    return BatchInfo(
        id=str(data.get("id")),
        processing_status=str(data.get("processing_status")),
        request_counts={str(key): int(value) for key, value in counts.items()},
        created_at=created if isinstance(created, datetime.datetime) else None,
    )
