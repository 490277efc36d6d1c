"""``ClaudeBackend``: structured extraction through the Claude Messages API.

Every decision is made by :class:`~invoiceai.backends.claude.job.ExtractionJob`,
:class:`~invoiceai.backends.claude.call.ApiCall` and the pure modules they use; this module only
performs the steps, once synchronously and once asynchronously.

Clients. Pass an ``anthropic.Anthropic`` / ``AsyncAnthropic`` (or a Bedrock or Vertex variant)
as ``client=`` / ``async_client=``, or let the backend build one on first use from
``api_key=`` or ``ANTHROPIC_API_KEY`` and ``base_url=`` or ``ANTHROPIC_BASE_URL``. Constructor
arguments win over the environment. The SDK's own retries are always off (``max_retries=0``,
set on a copy of an injected client), because this backend retries with its own policy and
attempts must never multiply. ``import anthropic`` happens on first use, not on import.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from invoiceai.backends.base import BackendResult, ExtractOptions, T
from invoiceai.backends.claude.api_errors import charged_errors
from invoiceai.backends.claude.call import ApiCall
from invoiceai.backends.claude.chunking import RequestLimits
from invoiceai.backends.claude.clients import Clients
from invoiceai.backends.claude.clock import SYSTEM_CLOCK, Clock
from invoiceai.backends.claude.detect import CapabilityDetector
from invoiceai.backends.claude.job import ExtractionJob
from invoiceai.backends.claude.models import ModelSpec, ModelState
from invoiceai.backends.claude.pacing_wait import Gate
from invoiceai.backends.claude.prices import Price, PriceTable
from invoiceai.backends.claude.request import INPUT_MODES, PROMPT_VERSION, InputMode, api_schema
from invoiceai.backends.claude.retry import CallRetry, Cooldown, RetryPolicy
from invoiceai.backends.claude.sender import asend, send
from invoiceai.backends.claude.steps import JobConfig, SendRequest, SourceReader
from invoiceai.closing import Closeable
from invoiceai.config import DETAILS, Detail, Settings
from invoiceai.errors import ConfigurationError
from invoiceai.pages import ImageBudget

if TYPE_CHECKING:
    from pydantic import BaseModel
    from typing_extensions import Unpack

    from invoiceai.backends.claude.batch.session import BatchSession
    from invoiceai.backends.claude.dryrun import CostEstimate, EstimateMethod, TokenCounter
    from invoiceai.backends.claude.pacing import Pacer
    from invoiceai.pages import PageSource

__all__ = ["ClaudeBackend"]


class ClaudeBackend(Closeable):
    """Extracts typed data from pages with a Claude model.

    Args:
        model: Model id; defaults to ``settings.model`` (:data:`invoiceai.config.DEFAULT_MODEL`).
        settings: Retry, re-ask, budget and timeout settings; defaults to ``Settings.load()``.
        client: An injected ``anthropic.Anthropic``, ``AnthropicBedrock`` or ``AnthropicVertex``
            (an async client is accepted here too). Never closed by the backend.
        async_client: An injected ``anthropic.AsyncAnthropic`` or async Bedrock / Vertex client.
        api_key: Key for a client built by the backend; defaults to ``ANTHROPIC_API_KEY``.
        base_url: API address for a client built by the backend; defaults to
            ``ANTHROPIC_BASE_URL``, then the public API.
        mode: ``images`` (default), ``images+text`` (adds born-digital text layers as hints),
            ``text`` (text layers only; images for pages without one) or ``pdf`` (one native
            PDF document block; falls back to images when the source is not a PDF or too large).
        prices: Prices that override :data:`~invoiceai.backends.claude.prices.DEFAULT_PRICES` per
            model, or a whole :class:`~invoiceai.backends.claude.prices.PriceTable`.
        retry: Transport retry policy; defaults to one built from ``settings``.
        limits: Request size limits and pages per request.
        detect_capabilities: Ask the API (``models.retrieve``) what the model supports, once per
            model; otherwise use the known-model table only.
        model_state: Where detected capabilities and learned image limits are kept; pass one
            instance to several backends to share them.
        max_image_budget: Caps the model's image budget, to spend fewer tokens per page (for
            example ``ImageBudget(1000, 600_000)``).
        detail: ``standard`` renders pages at 1568 px / 1.15 MP, which every model takes without
            downsizing; ``high`` at the model's larger budget where the model table gives it
            one (about 3x the tokens per page). Defaults to ``settings.detail``.
        max_concurrent_requests: Requests this backend has in flight at once, whatever the number
            of documents in progress; 0 for no cap. Defaults to
            ``Settings.max_concurrent_requests``. Set it to the account's concurrency so a batch
            keeps exactly that many requests in flight while other documents render. Below it,
            requests are paced from the account's rate-limit headers (:attr:`pacing`).
        clock: Where retry waits and the 429 cooldown read the time and sleep; tests pass a fake
            (:class:`~invoiceai.backends.claude.clock.Clock`) so that no test waits for real.
    """

    name = "claude"

    def __init__(
        self,
        model: str | None = None,
        *,
        settings: Settings | None = None,
        client: Any = None,
        async_client: Any = None,
        api_key: str | None = None,
        base_url: str | None = None,
        mode: InputMode = "images",
        prices: Mapping[str, Price] | PriceTable | None = None,
        retry: RetryPolicy | None = None,
        limits: RequestLimits | None = None,
        detect_capabilities: bool = True,
        model_state: ModelState | None = None,
        max_image_budget: ImageBudget | None = None,
        max_concurrent_requests: int | None = None,
        clock: Clock = SYSTEM_CLOCK,
        detail: Detail | None = None,
    ) -> None:
        if mode not in INPUT_MODES:
            raise ConfigurationError(f"Unknown input mode {mode!r}; choose one of {list(INPUT_MODES)}.")
        self._settings = settings = settings or Settings.load()
        self.detail: Detail = _checked_detail(detail or settings.detail)
        self.model = (model or settings.model).strip()
        if not self.model:
            raise ConfigurationError("The model id must not be empty.")
        self.mode: InputMode = mode
        self._retry = retry or RetryPolicy.from_settings(settings)
        self._limits = limits or RequestLimits()
        self._prices = prices if isinstance(prices, PriceTable) else PriceTable(prices)
        self._state = model_state or ModelState()
        self._detector = CapabilityDetector(self.model, self._state, enabled=detect_capabilities)
        self._max_budget = max_image_budget
        self._clock = clock
        self._cooldown = Cooldown(clock)
        cap = settings.max_concurrent_requests if max_concurrent_requests is None else max_concurrent_requests
        if cap < 0:
            raise ValueError("the request cap must be 0 (no cap) or more")
        self._gate = Gate(cap=cap, clock=clock, cooldown=self._cooldown)
        self._clients = Clients(
            client=client,
            async_client=async_client,
            api_key=api_key,
            base_url=base_url,
            timeout=settings.request_timeout,
        )
        self._lock = threading.Lock()
        self._schemas: dict[type[Any], dict[str, Any]] = {}

    def __repr__(self) -> str:
        return f"ClaudeBackend(model={self.model!r}, mode={self.mode!r})"

    @property
    def pacing(self) -> Pacer:
        """The pacer every call of this backend shares (and copies made by :meth:`with_detail`).

        ``pacing.snapshot()`` tells what was learned (limits, waits, 429s);
        ``pacing.subscribe(listener)`` announces every wait as a
        :class:`~invoiceai.backends.claude.pacing.WaitEvent` (``event.describe()`` reads
        ``waiting 8 s: rate limited``).
        """
        return self._gate.pacer

    # -- the Backend protocol ----------------------------------------------------------------

    def prepare(self, source: PageSource) -> None:
        """Reads from ``source`` now what :meth:`extract` will read from it later.

        The batch engine calls this in a worker thread before the document takes a request
        slot, and serves what was read to :meth:`extract`. Only documents that fit in one
        request of at most ``many_images`` pages are warmed, at exactly the budget the request
        will use; longer ones are left to stream chunk by chunk as they render.
        """
        if source.page_count > self._limits.many_images:
            return
        if self.mode == "pdf":
            source.pdf_bytes()
            return
        if self.mode != "images":
            texts = source.text_layers()
            if self.mode == "text" and all((text or "").strip() for text in texts):
                return  # text mode renders only pages without a text layer
        for _ in source.render(self.image_budget()):
            pass

    def image_budget(self) -> ImageBudget:
        """Returns the budget pages are rendered to: the model's, capped by limits learned at run time."""
        budget = self._state.budget(self.model, self.detail)
        cap = self._max_budget
        if cap is None:
            return budget
        return ImageBudget(
            max_long_edge=min(budget.max_long_edge, cap.max_long_edge),
            max_pixels=min(budget.max_pixels, cap.max_pixels),
            max_bytes=min(budget.max_bytes, cap.max_bytes),
            max_side=min(budget.max_side, cap.max_side),
        )

    def fingerprint(self) -> str:
        """Returns everything besides document and schema that changes the answer, as one string."""
        text = f"claude;model={self.model};prompt={PROMPT_VERSION};mode={self.mode};pages={self._limits.max_pages}"
        # The detail that takes effect: "high" on a model without a larger budget is "standard".
        high = self.detail == "high" and self._state.spec(self.model).high_detail
        text += f";detail={'high' if high else 'standard'}"
        if self._max_budget is not None:
            text += f";image={self._max_budget.max_long_edge}x{self._max_budget.max_pixels}"
        return text

    def with_detail(self, detail: Detail) -> ClaudeBackend:
        """Returns this backend at another ``detail``, sharing its clients, model state and request slots.

        Closing either closes the clients they share; the extractor uses this for a per-call ``detail=``.
        """
        if _checked_detail(detail) == self.detail:
            return self
        other = copy.copy(self)
        other.detail = detail
        return other

    def with_settings(self, **changes: Any) -> ClaudeBackend:
        """Returns this backend with some settings changed, sharing its clients, model state and request slots.

        For the settings a stored batch job decides with (``max_reasks``, ``token_budget``): a
        service collects a job with the values it was submitted with, as ``invoiceai batch`` does.
        """
        other = copy.copy(self)
        other._settings = self._settings.replace(**changes)
        return other

    def estimate(
        self,
        source: PageSource,
        schema: type[BaseModel],
        *,
        document_id: str | None = None,
        count_tokens: bool | TokenCounter = False,
    ) -> CostEstimate:
        """Builds the requests :meth:`extract` would send for ``source`` and counts them; sends nothing.

        The pages are read and rendered exactly as a live extraction reads them. Without
        ``count_tokens`` no client is needed (nor a key): input tokens are estimated locally.

        Args:
            source: The document's pages.
            schema: The Pydantic model a live run would fill.
            document_id: For warnings; defaults to the source's.
            count_tokens: ``True`` asks the API's free token-counting endpoint
                (``messages.count_tokens``, needs a key) for each request; a callable counts
                each request's ``messages.create`` arguments itself.

        Raises:
            ConfigurationError: ``count_tokens=True`` without an API key.
            BackendError: The token-counting endpoint failed.
        """
        from invoiceai.backends.claude.dryrun import StandInAnswer, run_dry, summarise

        counter, client = self._counter(count_tokens)
        spec = self._detector.spec(client) if client is not None else self._state.spec(self.model)
        job = self._new_job(
            source, StandInAnswer, spec, {"document_id": document_id}, self._schema_json(schema), dry=True
        )
        with charged_errors(job, self._clients.secrets()):
            requests = run_dry(job, SourceReader(source), counter)
        method: EstimateMethod = "local" if counter is None else "count_tokens" if count_tokens is True else "custom"
        return summarise(
            requests, model=self.model, pages=source.page_count, method=method, prices=self._prices,
            token_budget=self._settings.token_budget, warnings=job.result().warnings,
        )  # fmt: skip

    def extract(self, source: PageSource, schema: type[T], **options: Unpack[ExtractOptions]) -> BackendResult[T]:
        """Extracts ``schema`` from ``source``; see :meth:`invoiceai.backends.base.Backend.extract`.

        Raises:
            ConfigurationError: No API key (``ANTHROPIC_API_KEY``) or only an async client.
            BackendError: The API failed in a way retries could not fix (a typed subclass).
            ExtractionValidationError: No reply matched the schema within the re-ask budget.
        """
        client = self._clients.sync()
        job = self._new_job(source, schema, self._detector.spec(client), options)
        reader = SourceReader(source)
        with charged_errors(job, self._clients.secrets()), contextlib.closing(reader):
            # Pages are pulled one at a time and each chunk is sent once its pages are here.
            while (step := job.next_step()) is not None:
                if isinstance(step, SendRequest):
                    self._send(client, self._call(job, step))
                else:
                    reader.read(job, step)
        return job.result()

    async def aextract(
        self, source: PageSource, schema: type[T], **options: Unpack[ExtractOptions]
    ) -> BackendResult[T]:
        """Async twin of :meth:`extract`.

        With only a sync client injected, the sync path runs in a worker thread.
        """
        client = await self._clients.async_or_none()
        if client is None:
            return await asyncio.to_thread(lambda: self.extract(source, schema, **options))
        job = self._new_job(source, schema, await self._detector.aspec(client), options)
        reader = SourceReader(source)
        try:
            with charged_errors(job, self._clients.secrets()):
                while (step := job.next_step()) is not None:
                    if isinstance(step, SendRequest):
                        await self._asend(client, self._call(job, step))
                    else:
                        # Rendering is CPU-bound (and pdfium is serialised): keep it off the event loop.
                        await asyncio.to_thread(reader.read, job, step)
        finally:
            # Closing a half-done render waits for the page being rendered: not on the loop either.
            await asyncio.to_thread(reader.close)
        return job.result()

    def batch_session(self) -> BatchSession:
        """Returns this backend's Message Batches side: batch-priced jobs and the batch endpoints.

        Raises:
            ConfigurationError: No API key, or only an async client (batches use a sync client).
        """
        from invoiceai.backends.claude.batch.session import BatchSession

        client = self._clients.sync()
        spec = self._detector.spec(client)
        return BatchSession(
            client=client, model=self.model, max_attempts=self._settings.max_attempts,
            secrets=self._clients.secrets(),
            max_reasks=self._settings.max_reasks, token_budget=self._settings.token_budget, prices=self._prices,
            new_job=lambda source, schema, options: self._new_job(source, schema, spec, options, batch=True),
        )  # fmt: skip

    def close(self) -> None:
        """Closes the sync client this backend built (an injected one stays open).

        The backend stays usable: a later call builds a new client.
        """
        self._clients.close()

    async def aclose(self) -> None:
        """Closes the clients this backend built, sync and async (injected ones stay open)."""
        await self._clients.aclose()

    # -- the I/O of one request (every decision is the pacer's and the ApiCall's) ------------

    def _send(self, client: Any, call: ApiCall) -> None:
        send(client, call, self._gate, self._clock, self._settings.request_timeout)

    async def _asend(self, client: Any, call: ApiCall) -> None:
        await asend(client, call, self._gate, self._clock, self._settings.request_timeout)

    # -- shared, no I/O ------------------------------------------------------------------------

    def _counter(self, count_tokens: bool | TokenCounter) -> tuple[TokenCounter | None, Any]:
        # The dry run's token counter, and the client it needs (none for a local estimate).
        if count_tokens is False:
            return None, None
        if count_tokens is not True:
            return count_tokens, None
        import anthropic

        from invoiceai.backends.claude.api_errors import to_backend_error
        from invoiceai.backends.claude.dryrun import count_params

        client = self._clients.sync()

        def count(params: Mapping[str, Any]) -> int:
            # The counting endpoint has rate limits of its own: the same retry decisions as a request.
            retry = CallRetry(self._retry, self._cooldown, clock=self._clock, label="count_tokens")
            while True:
                while pause := retry.pause():
                    self._clock.sleep(pause)
                retry.begin()
                try:
                    counted = client.messages.count_tokens(
                        **count_params(params), timeout=self._settings.request_timeout
                    )
                except anthropic.AnthropicError as exc:
                    wait = retry.failed(exc)
                    if wait is None:
                        raise to_backend_error(exc, attempts=retry.attempts, secrets=self._clients.secrets()) from exc
                    self._clock.sleep(wait)
                    continue
                return int(counted.input_tokens)

        return count, client

    def _call(self, job: ExtractionJob[Any], step: SendRequest) -> ApiCall:
        retry = CallRetry(self._retry, self._cooldown, clock=self._clock, label=step.label)
        return ApiCall(job, step, retry, clock=self._clock)

    def _new_job(
        self,
        source: PageSource,
        schema: type[T],
        spec: ModelSpec,
        options: ExtractOptions,
        schema_json: dict[str, Any] | None = None,
        *,
        batch: bool = False,
        dry: bool = False,
    ) -> ExtractionJob[T]:
        config = JobConfig(
            batch=batch,
            model=self.model,
            spec=spec,
            mode=self.mode,
            max_reasks=self._settings.max_reasks,
            token_budget=self._settings.token_budget,
            limits=_limits_for(self._limits, spec),
            prices=self._prices,
            secrets=self._clients.secrets(),
            image_budget=self.image_budget(),
            preflight=not dry,  # a dry run reports the cost instead of refusing it
        )
        job: ExtractionJob[T] = ExtractionJob(
            config=config,
            schema=schema,
            schema_json=schema_json if schema_json is not None else self._schema_json(schema),
            document_id=options.get("document_id") or source.document_id,
            page_count=source.page_count,
            state=self._state,
            validation_context=options.get("validation_context"),
        )
        for note in self._detector.notes:
            job.warn(note)
        return job

    def _schema_json(self, schema: type[BaseModel]) -> dict[str, Any]:
        with self._lock:
            cached = self._schemas.get(schema)
        if cached is None:
            cached = api_schema(schema)
            with self._lock:
                self._schemas[schema] = cached
        return cached


def _checked_detail(detail: str) -> Detail:
    if detail not in DETAILS:
        raise ConfigurationError(f"Unknown detail {detail!r}; choose one of {list(DETAILS)}.")
    return detail


def _limits_for(limits: RequestLimits, spec: ModelSpec) -> RequestLimits:
    if spec.max_images >= limits.max_images:
        return limits
    return dataclasses.replace(limits, max_images=spec.max_images)
