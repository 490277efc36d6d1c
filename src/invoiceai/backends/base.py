"""The contract between the extractor and a model backend.

A backend turns the pages of one document into validated data of a caller-given Pydantic
schema. It owns everything model-specific: the image budget its model wants, how requests are
built, retried and re-asked, and what they cost. The extractor only calls the methods of
:class:`Backend` and reads a :class:`BackendResult`.

Contract:

* :meth:`Backend.extract` and :meth:`Backend.aextract` return the same result for the same input;
  the async one never blocks the event loop on network I/O.
* A backend calls ``source.render(budget)`` at least once and may call it again with a smaller
  budget (when the API asks for smaller images); it never mutates the source, the schema or
  anything else it is given.
* Failures are raised as :class:`invoiceai.errors.BackendError` subclasses (or
  :class:`~invoiceai.errors.ExtractionValidationError`), carrying ``document_id`` and ``attempts``.
* ``usage`` counts every request made for the document, including retries and re-asks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypedDict, TypeVar, runtime_checkable

from invoiceai.errors import TokenBudgetExceededError
from invoiceai.usage import Usage

if TYPE_CHECKING:
    from pydantic import BaseModel
    from typing_extensions import Unpack

    from invoiceai.pages import ImageBudget, PageSource

__all__ = ["Backend", "BackendResult", "ExtractOptions", "T", "TokenBudgetExceededError"]

# Bound by name so that importing this module does not import pydantic.
T = TypeVar("T", bound="BaseModel")


class ExtractOptions(TypedDict, total=False):
    """The keyword options of :meth:`Backend.extract` and :meth:`Backend.aextract`, all optional.

    A backend may spell them out as keyword-only parameters instead
    (``*, document_id: str | None = None, validation_context: Mapping[str, Any] | None = None``);
    type checkers treat both spellings as the same signature.

    Attributes:
        document_id: Identifies the document in errors and logs (defaults to the source's).
        validation_context: Passed to ``schema.model_validate(..., context=...)``.
    """

    document_id: str | None
    validation_context: Mapping[str, Any] | None


@dataclasses.dataclass(frozen=True)
class BackendResult(Generic[T]):
    """What a backend returns for one document.

    Attributes:
        data: The validated instance of the requested schema.
        usage: Tokens, requests and cost summed over every attempt.
        model: The model that produced ``data``.
        attempts: API requests made, including transport retries, re-asks and re-renders.
        request_ids: The API request id of every attempt that got one, in order.
        warnings: Things the caller may want to know (fallbacks taken, unknown prices, ...).
        chunks: How many requests the document was split into (1 unless it was long).
        value_pages: The page of each value as the model named it, by path (``total``,
            ``line_items[3].amount``; a part's path, ``seller`` or ``line_items[3]``, stands for
            every value under it, and ``""`` for every value). Pages are 1-based positions
            among the pages the backend was given. ``None`` when not asked (a one-page document)
            or not answered; grounding checks them, never trusts them.
    """

    data: T
    usage: Usage
    model: str
    attempts: int
    request_ids: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    chunks: int = 1
    value_pages: dict[str, int] | None = None


@runtime_checkable
class Backend(Protocol):
    """A model that extracts typed data from rendered pages.

    Attributes:
        name: Registry name of the backend (``"claude"``).
        model: Model id the backend sends requests to.
    """

    name: str
    model: str

    def image_budget(self) -> ImageBudget:
        """Returns the budget pages should be rendered to for the current model.

        It may shrink during the backend's life when the API reports a smaller image limit.
        """
        ...

    def fingerprint(self) -> str:
        """Returns a stable string of everything besides document and schema that changes the answer.

        Cache keys include it: two backends with equal fingerprints give the same answer for the
        same document and schema.
        """
        ...

    def extract(self, source: PageSource, schema: type[T], **options: Unpack[ExtractOptions]) -> BackendResult[T]:
        """Extracts ``schema`` from the pages of ``source``.

        Args:
            source: The document's pages; rendered by the backend at its own budget.
            schema: The Pydantic model class to fill.
            **options: ``document_id`` and ``validation_context`` (see :class:`ExtractOptions`).

        Returns:
            The validated data with its usage.
        """
        ...

    async def aextract(
        self, source: PageSource, schema: type[T], **options: Unpack[ExtractOptions]
    ) -> BackendResult[T]:
        """Async twin of :meth:`extract`."""
        ...

    def close(self) -> None:
        """Releases what the backend opened itself (never an injected client)."""
        ...

    async def aclose(self) -> None:
        """Async twin of :meth:`close`."""
        ...
