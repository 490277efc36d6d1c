"""``ClaudeBackend``: structured extraction through the Claude Messages API.

Every decision is made by :class:`~invoiceai.backends.job.ExtractionJob` and the pure modules
it uses; this module only performs the steps, once synchronously and once asynchronously.

Clients. Pass an ``anthropic.Anthropic`` / ``AsyncAnthropic`` (or a Bedrock or Vertex variant)
as ``client=`` / ``async_client=``, or let the backend build one on first use from
``api_key=`` or ``ANTHROPIC_API_KEY`` and ``base_url=`` or ``ANTHROPIC_BASE_URL``. Constructor
arguments win over the environment. The SDK's own retries are always off (``max_retries=0``,
set on a copy of an injected client), because this backend retries with its own policy and
attempts must never multiply. ``import anthropic`` happens on first use, not on import.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import logging
import os
import sys
import threading
import time
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from invoiceai.backends.base import BackendResult, T
from invoiceai.backends.chunking import RequestLimits
from invoiceai.backends.job import ExtractionJob, JobConfig, NeedPages, NeedPdf, NeedTextLayers, SendRequest, Step
from invoiceai.backends.models import ModelSpec, ModelState, lookup_model, spec_from_model_info
from invoiceai.backends.prices import Price, PriceTable
from invoiceai.backends.request import INPUT_MODES, PROMPT_VERSION, InputMode, api_schema
from invoiceai.backends.retry import (
    Cooldown,
    RetryPolicy,
    async_retrying,
    cooldown_pause,
    start_cooldown,
    sync_retrying,
)
from invoiceai.backends.slots import RequestSlots
from invoiceai.config import Settings
from invoiceai.errors import ConfigurationError, InvoiceAIError
from invoiceai.pages import ImageBudget
from invoiceai.usage import Usage

if TYPE_CHECKING:
    from pydantic import BaseModel

    from invoiceai.pages import PageSource

__all__ = ["ClaudeBackend"]

logger = logging.getLogger("invoiceai.backends")

_MODEL_INFO_TIMEOUT = 30.0
# Where the SDK's clients keep credentials: Anthropic (api_key, auth_token), Vertex
# (access_token), Bedrock (aws_secret_key, aws_session_token).
_CLIENT_SECRET_ATTRIBUTES = ("api_key", "auth_token", "access_token", "aws_secret_key", "aws_session_token")


class ClaudeBackend:
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
        prices: Prices that override :data:`~invoiceai.backends.prices.DEFAULT_PRICES` per model,
            or a whole :class:`~invoiceai.backends.prices.PriceTable`.
        retry: Transport retry policy; defaults to one built from ``settings``.
        limits: Request size limits and pages per request.
        detect_capabilities: Ask the API (``models.retrieve``) what the model supports, once per
            model; otherwise use the known-model table only.
        model_state: Where detected capabilities and learned image limits are kept; pass one
            instance to several backends to share them.
        max_image_budget: Caps the model's image budget, to spend fewer tokens per page (for
            example ``ImageBudget(1568, 1_150_000)`` on a model that accepts more).
        max_concurrent_requests: Requests this backend has in flight at once, whatever the number
            of documents in progress; 0 for no cap. Defaults to
            ``Settings.max_concurrent_requests``. Set it to the account's concurrency so a batch
            keeps exactly that many requests in flight while other documents render.
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
    ) -> None:
        if mode not in INPUT_MODES:
            raise ConfigurationError(f"Unknown input mode {mode!r}; choose one of {list(INPUT_MODES)}.")
        self._settings = settings or Settings.load()
        self.model = (model or self._settings.model).strip()
        if not self.model:
            raise ConfigurationError("The model id must not be empty.")
        self.mode: InputMode = mode
        self._retry = retry or RetryPolicy.from_settings(self._settings)
        self._limits = limits or RequestLimits()
        self._prices = prices if isinstance(prices, PriceTable) else PriceTable(prices)
        self._detect = detect_capabilities
        self._state = model_state or ModelState()
        self._max_budget = max_image_budget
        self._api_key = api_key
        self._base_url = base_url
        self._cooldown = Cooldown()
        self._slots = RequestSlots(
            self._settings.max_concurrent_requests if max_concurrent_requests is None else max_concurrent_requests
        )
        self._lock = threading.Lock()
        self._detect_lock = threading.Lock()
        self._detect_async_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._schemas: dict[type[Any], dict[str, Any]] = {}
        self._notes: dict[str, tuple[str, ...]] = {}
        # Injected clients are used as given (minus SDK retries) and never closed; the backend
        # builds its own only for a side (sync or async) that was not injected at all.
        self._injected: Any = None
        self._injected_async: Any = None
        self._client: Any = None
        self._owned_client: Any = None
        # An async client's connections belong to the event loop that opened them, so the
        # backend keeps one per loop; a loop that ends takes its entry with it.
        self._owned_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary()
        )
        if client is not None:
            if _is_async_client(client):
                async_client = async_client or client
            else:
                self._injected = self._client = _without_sdk_retries(client)
        if async_client is not None:
            if not _is_async_client(async_client):
                raise ConfigurationError("async_client= must be an async Anthropic client (AsyncAnthropic, ...).")
            self._injected_async = _without_sdk_retries(async_client)

    def __repr__(self) -> str:
        return f"ClaudeBackend(model={self.model!r}, mode={self.mode!r})"

    # -- the Backend protocol ----------------------------------------------------------------

    def image_budget(self) -> ImageBudget:
        """Returns the budget pages are rendered to: the model's, capped by limits learned at run time."""
        budget = self._state.budget(self.model)
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
        if self._max_budget is not None:
            text += f";image={self._max_budget.max_long_edge}x{self._max_budget.max_pixels}"
        return text

    def extract(
        self,
        source: PageSource,
        schema: type[T],
        *,
        document_id: str | None = None,
        validation_context: Mapping[str, Any] | None = None,
    ) -> BackendResult[T]:
        """Extracts ``schema`` from ``source``; see :meth:`invoiceai.backends.base.Backend.extract`.

        Raises:
            ConfigurationError: No API key (``ANTHROPIC_API_KEY``) or only an async client.
            BackendError: The API failed in a way retries could not fix (a typed subclass).
            ExtractionValidationError: No reply matched the schema within the re-ask budget.
        """
        client = self._sync_client()
        spec = self._spec_sync(client)
        job = self._new_job(source, schema, spec, document_id, validation_context)
        try:
            while (step := job.next_step()) is not None:
                if isinstance(step, SendRequest):
                    self._send_sync(client, job, step)
                else:
                    _read_source(job, source, step)
        except InvoiceAIError as exc:
            _attach_usage(exc, job.usage)
            raise
        return job.result()

    async def aextract(
        self,
        source: PageSource,
        schema: type[T],
        *,
        document_id: str | None = None,
        validation_context: Mapping[str, Any] | None = None,
    ) -> BackendResult[T]:
        """Async twin of :meth:`extract`.

        With only a sync client injected, the sync path runs in a worker thread.
        """
        client = await self._async_client_or_none()
        if client is None:
            return await asyncio.to_thread(
                self.extract, source, schema, document_id=document_id, validation_context=validation_context
            )
        spec = await self._spec_async(client)
        job = self._new_job(source, schema, spec, document_id, validation_context)
        try:
            while (step := job.next_step()) is not None:
                if isinstance(step, SendRequest):
                    await self._send_async(client, job, step)
                else:
                    # Rendering is CPU-bound (and pdfium is serialised): keep it off the event loop.
                    await asyncio.to_thread(_read_source, job, source, step)
        except InvoiceAIError as exc:
            _attach_usage(exc, job.usage)
            raise
        return job.result()

    def close(self) -> None:
        """Closes the sync client this backend built (an injected one stays open).

        The backend stays usable: a later call builds a new client.
        """
        with self._lock:
            owned, self._owned_client = self._owned_client, None
            if owned is not None and self._client is owned:
                self._client = None
        if owned is not None:
            owned.close()

    async def aclose(self) -> None:
        """Closes the clients this backend built, sync and async (injected ones stay open)."""
        self.close()
        with self._lock:
            owned = self._owned_async_clients.pop(asyncio.get_running_loop(), None)
        if owned is not None:
            await owned.close()

    def __enter__(self) -> ClaudeBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> ClaudeBackend:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- shared, no I/O ------------------------------------------------------------------------

    def _new_job(
        self,
        source: PageSource,
        schema: type[T],
        spec: ModelSpec,
        document_id: str | None,
        validation_context: Mapping[str, Any] | None,
    ) -> ExtractionJob[T]:
        config = JobConfig(
            model=self.model,
            spec=spec,
            mode=self.mode,
            max_reasks=self._settings.max_reasks,
            token_budget=self._settings.token_budget,
            limits=_limits_for(self._limits, spec),
            prices=self._prices,
            secrets=self._secrets(),
            image_budget=self.image_budget(),
        )
        job: ExtractionJob[T] = ExtractionJob(
            config=config,
            schema=schema,
            schema_json=self._schema_json(schema),
            document_id=document_id or source.document_id,
            page_count=source.page_count,
            state=self._state,
            validation_context=validation_context,
        )
        for note in self._notes.get(self.model, ()):
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

    def _secrets(self) -> tuple[str, ...]:
        values = [self._api_key, os.environ.get("ANTHROPIC_API_KEY"), os.environ.get("ANTHROPIC_AUTH_TOKEN")]
        # An injected client may hold the only copy of the credentials (api_key=... passed to it).
        for client in (self._injected, self._injected_async):
            if client is not None:
                values += [getattr(client, name, None) for name in _CLIENT_SECRET_ATTRIBUTES]
        return tuple(dict.fromkeys(value for value in values if isinstance(value, str) and value))

    def _resolve_spec(self, info: Mapping[str, Any] | None) -> ModelSpec:
        fallback = lookup_model(self.model)
        spec = spec_from_model_info(info, fallback) if info is not None else fallback
        notes = []
        deprecated = _deprecated_models().get(self.model)
        if deprecated:
            notes.append(f"{self.model} is deprecated (retires {deprecated}); choose a current model")
        elif info is not None and info.get("lifecycle") in ("deprecated", "retired"):
            notes.append(f"{self.model} is {info['lifecycle']}; choose a current model")
        self._notes[self.model] = tuple(notes)
        self._state.remember_spec(self.model, spec)
        return spec

    # -- sync I/O --------------------------------------------------------------------------------

    def _sync_client(self) -> Any:
        if self._client is not None:
            return self._client
        if self._injected_async is not None:
            raise ConfigurationError(
                "ClaudeBackend was given only an async client; call aextract(), or pass a sync client= too."
            )
        kwargs = self._client_kwargs()  # a missing key fails here, before the slow SDK import
        with self._lock:
            if self._client is None:
                import anthropic

                self._client = self._owned_client = anthropic.Anthropic(**kwargs)
            return self._client

    def _spec_sync(self, client: Any) -> ModelSpec:
        spec = self._state.detected(self.model)
        if spec is not None:
            return spec
        with self._detect_lock:  # concurrent first calls ask the API once
            spec = self._state.detected(self.model)
            if spec is not None:
                return spec
            info = None
            if self._detect and hasattr(client, "models"):
                import anthropic

                try:
                    info = client.models.retrieve(self.model, timeout=_MODEL_INFO_TIMEOUT).to_dict()
                except anthropic.AnthropicError as exc:
                    _log_lookup_failure(self.model, exc)
            return self._resolve_spec(info)

    def _send_sync(self, client: Any, job: ExtractionJob[Any], step: SendRequest) -> None:
        import anthropic

        message: Any = None
        call_attempts = 0
        call_started = time.monotonic()
        try:
            for attempt in sync_retrying(self._retry, self._cooldown, label=step.label):
                with attempt:
                    # The cooldown is checked once a slot is held, and a 429 starts it before the
                    # slot is released: a call queued for the slot never sends during a cooldown.
                    with self._slots.hold():
                        while pause := self._pause(job, call_started):
                            time.sleep(pause)
                        call_attempts += 1
                        started = time.monotonic()
                        try:
                            message = client.messages.create(**step.params, timeout=self._settings.request_timeout)
                        except anthropic.AnthropicError as exc:
                            start_cooldown(exc, self._cooldown)
                            job.record_attempt(
                                request_id=_request_id(exc), error=exc, elapsed=time.monotonic() - started
                            )
                            raise
                    job.record_attempt(request_id=_request_id(message), error=None, elapsed=time.monotonic() - started)
        except anthropic.AnthropicError as exc:
            job.handle_failure(exc, call_attempts=call_attempts)
            return
        job.handle_reply(_as_dict(message))

    # -- async I/O -------------------------------------------------------------------------------

    async def _async_client_or_none(self) -> Any:
        if self._injected_async is not None:
            return self._injected_async  # the caller owns its event loop
        if self._injected is not None:
            return None  # run the injected sync client in a worker thread
        loop = asyncio.get_running_loop()
        kwargs = self._client_kwargs()  # a missing key fails here, before the slow SDK import
        if "anthropic" not in sys.modules:
            # The first import takes a second or more: keep it off the event loop.
            await asyncio.to_thread(importlib.import_module, "anthropic")
        with self._lock:
            client = self._owned_async_clients.get(loop)
            if client is None:
                import anthropic

                client = self._owned_async_clients[loop] = anthropic.AsyncAnthropic(**kwargs)
            return client

    async def _spec_async(self, client: Any) -> ModelSpec:
        spec = self._state.detected(self.model)
        if spec is not None:
            return spec
        async with self._detect_async_lock():  # concurrent first calls ask the API once, as in sync
            spec = self._state.detected(self.model)
            if spec is not None:
                return spec
            info = None
            if self._detect and hasattr(client, "models"):
                import anthropic

                try:
                    info = (await client.models.retrieve(self.model, timeout=_MODEL_INFO_TIMEOUT)).to_dict()
                except anthropic.AnthropicError as exc:
                    _log_lookup_failure(self.model, exc)
            return self._resolve_spec(info)

    def _detect_async_lock(self) -> asyncio.Lock:
        # asyncio primitives belong to one event loop: one lock per loop the backend is used from.
        loop = asyncio.get_running_loop()
        with self._lock:
            lock = self._detect_async_locks.get(loop)
            if lock is None:
                lock = self._detect_async_locks[loop] = asyncio.Lock()
            return lock

    async def _send_async(self, client: Any, job: ExtractionJob[Any], step: SendRequest) -> None:
        import anthropic

        message: Any = None
        call_attempts = 0
        call_started = time.monotonic()
        try:
            async for attempt in async_retrying(self._retry, self._cooldown, label=step.label):
                with attempt:
                    # As in _send_sync: the cooldown is checked and started while the slot is held.
                    async with self._slots.ahold():
                        while pause := self._pause(job, call_started):
                            await asyncio.sleep(pause)
                        call_attempts += 1
                        started = time.monotonic()
                        try:
                            message = await client.messages.create(
                                **step.params, timeout=self._settings.request_timeout
                            )
                        except anthropic.AnthropicError as exc:
                            start_cooldown(exc, self._cooldown)
                            job.record_attempt(
                                request_id=_request_id(exc), error=exc, elapsed=time.monotonic() - started
                            )
                            raise
                    job.record_attempt(request_id=_request_id(message), error=None, elapsed=time.monotonic() - started)
        except anthropic.AnthropicError as exc:
            job.handle_failure(exc, call_attempts=call_attempts)
            return
        job.handle_reply(_as_dict(message))

    def _pause(self, job: ExtractionJob[Any], call_started: float) -> float:
        # The shared 429 cooldown left to wait out; a cooldown beyond the call's time budget
        # ends the call now (typed RateLimitError) rather than after a pointless sleep.
        pause = cooldown_pause(self._cooldown, self._retry, time.monotonic() - call_started)
        if pause is None:
            job.handle_cooldown_overrun(self._cooldown.remaining())
        return pause

    # -- building a client -----------------------------------------------------------------------

    def _client_kwargs(self) -> dict[str, Any]:
        key = self._api_key or os.environ.get("ANTHROPIC_API_KEY")
        if not key and not os.environ.get("ANTHROPIC_AUTH_TOKEN"):
            raise ConfigurationError(
                "No Claude API key: set the ANTHROPIC_API_KEY environment variable, "
                "or pass api_key= or client= to ClaudeBackend."
            )
        kwargs: dict[str, Any] = {"max_retries": 0, "timeout": self._settings.request_timeout}
        if key:
            kwargs["api_key"] = key
        if self._base_url:
            kwargs["base_url"] = self._base_url
        return kwargs


def _limits_for(limits: RequestLimits, spec: ModelSpec) -> RequestLimits:
    if spec.max_images >= limits.max_images:
        return limits
    return dataclasses.replace(limits, max_images=spec.max_images)


def _read_source(job: ExtractionJob[Any], source: PageSource, step: Step) -> None:
    if isinstance(step, NeedTextLayers):
        job.provide_text_layers(source.text_layers())
    elif isinstance(step, NeedPdf):
        job.provide_pdf(source.pdf_bytes())
    elif isinstance(step, NeedPages):
        job.provide_pages(list(source.render(step.budget)))
    else:  # pragma: no cover - the job never asks for anything else
        raise TypeError(f"not a source step: {step!r}")


def _attach_usage(error: InvoiceAIError, usage: Usage) -> None:
    # A failed document still cost tokens: the extractor reports them from ``error.usage``
    # (``ExtractionFailure.usage``).
    error.usage = usage


def _request_id(obj: Any) -> str | None:
    value = getattr(obj, "request_id", None) or getattr(obj, "_request_id", None)
    return value if isinstance(value, str) else None


def _as_dict(message: Any) -> dict[str, Any]:
    if isinstance(message, Mapping):
        return dict(message)
    to_dict = getattr(message, "to_dict", None)
    if callable(to_dict):
        result: dict[str, Any] = to_dict()
        return result
    dumped: dict[str, Any] = message.model_dump()
    return dumped


def _is_async_client(client: Any) -> bool:
    import anthropic

    names = [name for name in dir(anthropic) if name.startswith("AsyncAnthropic")]
    classes = tuple(value for value in (getattr(anthropic, name) for name in names) if isinstance(value, type))
    return isinstance(client, classes)


def _log_lookup_failure(model: str, exc: BaseException) -> None:
    logger.debug("models.retrieve(%s) failed (%s); using the known-model table", model, type(exc).__name__)


def _without_sdk_retries(client: Any) -> Any:
    # A copy with max_retries=0: the caller's client keeps its own settings.
    with_options = getattr(client, "with_options", None)
    if callable(with_options) and getattr(client, "max_retries", 0) != 0:
        return with_options(max_retries=0)
    return client


def _deprecated_models() -> Mapping[str, str]:
    # The SDK keeps two lists (private, so read defensively): ids it warns about on every call,
    # and ids in `anthropic._data`. Either one means "do not build on this model".
    found: dict[str, str] = {}
    try:
        from anthropic._data import DEPRECATED_MODELS as listed

        found.update(listed)
    except ImportError:  # pragma: no cover - private module moved
        pass
    try:
        from anthropic.resources.messages.messages import DEPRECATED_MODELS as warned

        found.update(warned)
    except ImportError:  # pragma: no cover - private module moved
        pass
    return found
