"""Model backends: the :class:`Backend` protocol, the registry and :class:`ClaudeBackend`.

Importing this package is cheap: ``ClaudeBackend`` and the modules behind it are imported on
first attribute access, and the anthropic SDK only when a backend first talks to the API.

Modules, one job each:

* ``base``: the :class:`Backend` protocol and :class:`BackendResult`.
* ``registry``: backends by name, built-in and entry-point plugins.
* ``models``: what is known and learned about each model (structured outputs, image budget).
* ``prices``: USD per token, overridable.
* ``request`` / ``reply`` / ``reask`` / ``chunking`` / ``retry``: pure decisions.
* ``job``: one document's extraction as a state machine without I/O.
* ``claude``: :class:`ClaudeBackend`, the sync and async I/O loops.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from invoiceai.backends.base import Backend, BackendResult, TokenBudgetExceededError
from invoiceai.backends.registry import (
    ENTRY_POINT_GROUP,
    BackendFactory,
    BackendRegistry,
    backend_names,
    create_backend,
    get_backend_factory,
)

if TYPE_CHECKING:
    from invoiceai.backends.chunking import RequestLimits
    from invoiceai.backends.claude import ClaudeBackend
    from invoiceai.backends.models import ModelSpec, ModelState, lookup_model
    from invoiceai.backends.prices import DEFAULT_PRICES, Price, PriceTable
    from invoiceai.backends.request import InputMode
    from invoiceai.backends.retry import RetryPolicy

_LAZY: dict[str, str] = {
    "ClaudeBackend": "invoiceai.backends.claude",
    "DEFAULT_PRICES": "invoiceai.backends.prices",
    "InputMode": "invoiceai.backends.request",
    "ModelSpec": "invoiceai.backends.models",
    "ModelState": "invoiceai.backends.models",
    "Price": "invoiceai.backends.prices",
    "PriceTable": "invoiceai.backends.prices",
    "RequestLimits": "invoiceai.backends.chunking",
    "RetryPolicy": "invoiceai.backends.retry",
    "lookup_model": "invoiceai.backends.models",
}

__all__ = [
    "DEFAULT_PRICES",
    "ENTRY_POINT_GROUP",
    "Backend",
    "BackendFactory",
    "BackendRegistry",
    "BackendResult",
    "ClaudeBackend",
    "InputMode",
    "ModelSpec",
    "ModelState",
    "Price",
    "PriceTable",
    "RequestLimits",
    "RetryPolicy",
    "TokenBudgetExceededError",
    "backend_names",
    "create_backend",
    "get_backend_factory",
    "lookup_model",
]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'invoiceai.backends' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
