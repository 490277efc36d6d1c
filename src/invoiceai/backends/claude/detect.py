"""Asking the API once what a model supports (``models.retrieve``), sync or async.

:class:`CapabilityDetector` makes every decision (ask or not, how to read the answer, which
lifecycle notes to attach); its two lookups repeat only the I/O. Concurrent first calls ask the
API once; a failed lookup falls back to the known-model table.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Mapping
from typing import Any

from invoiceai.backends.claude.models import ModelSpec, ModelState, lookup_model, spec_from_model_info
from invoiceai.secrets import get_logger

__all__ = ["CapabilityDetector", "deprecated_models"]

logger = get_logger("invoiceai.backends")

_MODEL_INFO_TIMEOUT = 30.0


class CapabilityDetector:
    """What one model supports, detected once and kept in a :class:`ModelState`. Thread-safe.

    Args:
        model: The model id.
        state: Where the detected spec is kept (shared between backends that share it).
        enabled: Ask the API at all; otherwise use the known-model table only.
    """

    def __init__(self, model: str, state: ModelState, *, enabled: bool = True) -> None:
        self._model = model
        self._state = state
        self._enabled = enabled
        self._lock = threading.Lock()
        self._async_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self.notes: tuple[str, ...] = ()

    def spec(self, client: Any) -> ModelSpec:
        """Returns the model's spec, asking ``client`` (a sync client) on the first call."""
        with self._lock:  # concurrent first calls ask the API once
            return self._state.detected(self._model) or self._resolve(self._ask(client))

    async def aspec(self, client: Any) -> ModelSpec:
        """Async twin of :meth:`spec`, for an async client."""
        spec = self._state.detected(self._model)
        if spec is not None:
            return spec  # known: no need for the event loop's lock
        async with self._async_lock():
            return self._state.detected(self._model) or self._resolve(await self._aask(client))

    def _ask(self, client: Any) -> Mapping[str, Any] | None:
        import anthropic

        if not self._should_ask(client):
            return None
        try:
            info: Mapping[str, Any] = client.models.retrieve(self._model, timeout=_MODEL_INFO_TIMEOUT).to_dict()
        except anthropic.AnthropicError as exc:
            return self._lookup_failed(exc)
        return info

    async def _aask(self, client: Any) -> Mapping[str, Any] | None:
        import anthropic

        if not self._should_ask(client):
            return None
        try:
            info: Mapping[str, Any] = (await client.models.retrieve(self._model, timeout=_MODEL_INFO_TIMEOUT)).to_dict()
        except anthropic.AnthropicError as exc:
            return self._lookup_failed(exc)
        return info

    def _should_ask(self, client: Any) -> bool:
        # Bedrock and Vertex clients have no models endpoint.
        return self._enabled and hasattr(client, "models")

    def _resolve(self, info: Mapping[str, Any] | None) -> ModelSpec:
        fallback = lookup_model(self._model)
        spec = spec_from_model_info(info, fallback) if info is not None else fallback
        notes = []
        deprecated = deprecated_models().get(self._model)
        if deprecated:
            notes.append(f"{self._model} is deprecated (retires {deprecated}); choose a current model")
        elif info is not None and info.get("lifecycle") in ("deprecated", "retired"):
            notes.append(f"{self._model} is {info['lifecycle']}; choose a current model")
        self.notes = tuple(notes)
        self._state.remember_spec(self._model, spec)
        return spec

    def _async_lock(self) -> asyncio.Lock:
        # asyncio primitives belong to one event loop: one lock per loop the backend is used from.
        loop = asyncio.get_running_loop()
        with self._lock:
            lock = self._async_locks.get(loop)
            if lock is None:
                lock = self._async_locks[loop] = asyncio.Lock()
            return lock

    def _lookup_failed(self, exc: BaseException) -> Mapping[str, Any] | None:
        # No model info: the known-model table answers instead.
        logger.debug("models.retrieve(%s) failed (%s); using the known-model table", self._model, type(exc).__name__)
        return None


def deprecated_models() -> Mapping[str, str]:
    """Returns the model ids the anthropic SDK lists as deprecated, with their retirement dates."""
    # The SDK keeps two lists (private, so read defensively): ids it warns about on every call,
    # and ids in `anthropic._data`. Either one means "do not build on this model".
    found: dict[str, str] = {}
    try:
        from anthropic._data import DEPRECATED_MODELS as listed

        found.update(listed)
    except ImportError:  # pragma: no cover - private module moved
        pass
    try:
        from anthropic.resources.messages import messages

        found.update(getattr(messages, "DEPRECATED_MODELS", {}))
    except ImportError:  # pragma: no cover - private module moved
        pass
    return found
