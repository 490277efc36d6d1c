"""``FakeBackend``: a :class:`~invoiceai.backends.base.Backend` that answers from a queue.

Queue what the model should "say" for each call with :meth:`FakeBackend.enqueue` (an instance
of the schema, a dict, an exception to raise, or a callable) and inspect what it was asked in
:attr:`FakeBackend.history`. No network, no key, no anthropic import.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from invoiceai.backends.base import BackendResult, ExtractOptions, T
from invoiceai.pages import ImageBudget, Page
from invoiceai.testing.queue import AnswerQueue
from invoiceai.usage import Usage

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from invoiceai.pages import PageSource

__all__ = ["FakeBackend", "FakeCall", "NoReplyQueuedError"]


class NoReplyQueuedError(LookupError):
    """A :class:`FakeBackend` was called with nothing queued and no default reply."""


@dataclasses.dataclass(frozen=True)
class FakeCall:
    """One call a :class:`FakeBackend` received.

    Attributes:
        document_id: The document id passed (or the source's).
        schema: The schema class asked for.
        page_count: The source's page count.
        pages: The pages rendered at the backend's budget (empty when rendering is off).
        validation_context: The validation context passed.
        is_async: Whether ``aextract`` was used.
    """

    document_id: str | None
    schema: type[Any]
    page_count: int
    pages: tuple[Page, ...] = dataclasses.field(repr=False)
    validation_context: Mapping[str, Any] | None
    is_async: bool


class FakeBackend:
    """A backend with canned replies, for testing code that uses invoiceai.

    Each call takes the next queued reply:

    * an instance of the requested schema (returned as a deep copy) or a ``dict`` (validated
      into the schema, so normalisation runs exactly as for a real reply); a dict may carry the
      model's value pages under ``"_value_pages"`` (``[{"path": "total", "page": 2}]``), as a
      real multi-page reply does, and they become :attr:`BackendResult.value_pages`;
    * an exception instance, which is raised (e.g. ``RateLimitError("...")``);
    * a callable ``reply(call: FakeCall)`` returning either of the above.

    Args:
        *replies: Replies to queue at once.
        model: Reported model id.
        usage: Usage reported per call (defaults to one request, no tokens).
        default: Reply used when the queue is empty (else :class:`NoReplyQueuedError`).
        render: Render the source's pages at :attr:`budget` (as a real backend does).
        budget: The image budget this backend reports.

    Attributes:
        history: Every call received, in order.
        closed: Whether :meth:`close` / :meth:`aclose` was called.
    """

    name = "fake"

    def __init__(
        self,
        *replies: Any,
        model: str = "fake-model",
        usage: Usage | None = None,
        default: Any = None,
        render: bool = True,
        budget: ImageBudget | None = None,
    ) -> None:
        self.model = model
        self.usage = usage or Usage(requests=1)
        self.default = default
        self.render = render
        self.budget = budget or ImageBudget()
        self.history: list[FakeCall] = []
        self.closed = False
        self._queue: AnswerQueue[Any] = AnswerQueue(replies)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FakeBackend(model={self.model!r}, queued={len(self._queue)}, calls={len(self.history)})"

    def enqueue(self, *replies: Any) -> FakeBackend:
        """Queues replies for the next calls, in order; returns the backend for chaining."""
        self._queue.extend(replies)
        return self

    @property
    def pending(self) -> int:
        """Replies still queued."""
        return len(self._queue)

    def image_budget(self) -> ImageBudget:
        """Returns :attr:`budget`."""
        return self.budget

    def fingerprint(self) -> str:
        """Returns ``fake;model=<model>``."""
        return f"fake;model={self.model}"

    def extract(self, source: PageSource, schema: type[T], **options: Unpack[ExtractOptions]) -> BackendResult[T]:
        """Returns the next queued reply as a result (or raises the queued exception)."""
        return self._answer(source, schema, options, is_async=False)

    async def aextract(
        self, source: PageSource, schema: type[T], **options: Unpack[ExtractOptions]
    ) -> BackendResult[T]:
        """Async twin of :meth:`extract`."""
        return self._answer(source, schema, options, is_async=True)

    def close(self) -> None:
        """Marks the backend closed."""
        self.closed = True

    async def aclose(self) -> None:
        """Marks the backend closed."""
        self.closed = True

    def _answer(
        self,
        source: PageSource,
        schema: type[T],
        options: ExtractOptions,
        *,
        is_async: bool,
    ) -> BackendResult[T]:
        pages = tuple(source.render(self.budget)) if self.render else ()
        validation_context = options.get("validation_context")
        call = FakeCall(
            document_id=options.get("document_id") or source.document_id,
            schema=schema,
            page_count=source.page_count,
            pages=pages,
            validation_context=validation_context,
            is_async=is_async,
        )
        with self._lock:
            self.history.append(call)
            reply = self._queue.pop()
            if reply is None and self.default is not None:
                reply = self.default
            elif reply is None:
                raise NoReplyQueuedError(
                    f"FakeBackend got call {len(self.history)} for {schema.__name__} with no reply queued; "
                    "call enqueue() or pass default="
                )
        if callable(reply) and not isinstance(reply, type):
            reply = _call(reply, call)
        if isinstance(reply, BaseException):
            raise reply
        reply, value_pages = _split_pages(reply)
        return BackendResult(
            data=_as_schema(reply, schema, validation_context),
            usage=self.usage,
            model=self.model,
            attempts=1,
            request_ids=(f"fake-{len(self.history)}",),
            value_pages=value_pages,
        )


def _split_pages(reply: Any) -> tuple[Any, dict[str, int] | None]:
    # A dict reply's value pages, read as a real reply's are (paths normalised, bad entries skipped).
    from invoiceai.schema.structured import VALUE_PAGES_KEY

    if not isinstance(reply, Mapping) or VALUE_PAGES_KEY not in reply:
        return reply, None
    import json

    from invoiceai.backends.claude.reply import split_value_pages

    rest = {key: value for key, value in reply.items() if key != VALUE_PAGES_KEY}
    return rest, split_value_pages(json.dumps({VALUE_PAGES_KEY: reply[VALUE_PAGES_KEY]}, default=str))[1] or {}


def _call(reply: Callable[[FakeCall], Any], call: FakeCall) -> Any:
    try:
        return reply(call)
    except Exception as exc:  # a callable may raise to simulate a failure, like a queued exception
        return exc


def _as_schema(reply: Any, schema: type[T], context: Mapping[str, Any] | None) -> T:
    context_dict = dict(context) if context else None
    if isinstance(reply, schema):
        return reply.model_copy(deep=True)
    if isinstance(reply, Mapping):
        return schema.model_validate(dict(reply), context=context_dict)
    dump = getattr(reply, "model_dump", None)
    if callable(dump):
        return schema.model_validate(dump(mode="json"), context=context_dict)
    raise TypeError(f"FakeBackend cannot turn {type(reply).__name__} into {schema.__name__}")
