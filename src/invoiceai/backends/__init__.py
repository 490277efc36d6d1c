"""Model backends: the :class:`Backend` protocol, the registry and :class:`ClaudeBackend`.

Importing this package is cheap: ``ClaudeBackend`` and the modules behind it are imported on
first attribute access, and the anthropic SDK only when a backend first talks to the API.

* ``base``: the :class:`Backend` protocol and :class:`BackendResult`, what every backend shares.
* ``registry``: backends by name, built-in and entry-point plugins.
* ``claude``: the Claude package (client, requests, replies, retries, models, prices, slots);
  its most used names are re-exported here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from invoiceai.backends.base import Backend, BackendResult, TokenBudgetExceededError
from invoiceai.backends.registry import (
    ENTRY_POINT_GROUP,
    BackendFactory,
    backend_names,
    create_backend,
    get_backend_factory,
    load_plugins,
    register_backend,
    unregister_backend,
)

if TYPE_CHECKING:
    from invoiceai.backends.claude.backend import ClaudeBackend
    from invoiceai.backends.claude.chunking import RequestLimits
    from invoiceai.backends.claude.models import ModelSpec, ModelState, lookup_model
    from invoiceai.backends.claude.prices import DEFAULT_PRICES, Price, PriceTable
    from invoiceai.backends.claude.request import InputMode
    from invoiceai.backends.claude.retry import RetryPolicy

_LAZY: dict[str, str] = {
    "ClaudeBackend": "invoiceai.backends.claude.backend",
    "DEFAULT_PRICES": "invoiceai.backends.claude.prices",
    "InputMode": "invoiceai.backends.claude.request",
    "ModelSpec": "invoiceai.backends.claude.models",
    "ModelState": "invoiceai.backends.claude.models",
    "Price": "invoiceai.backends.claude.prices",
    "PriceTable": "invoiceai.backends.claude.prices",
    "RequestLimits": "invoiceai.backends.claude.chunking",
    "RetryPolicy": "invoiceai.backends.claude.retry",
    "lookup_model": "invoiceai.backends.claude.models",
}

__all__ = [
    "DEFAULT_PRICES",
    "ENTRY_POINT_GROUP",
    "Backend",
    "BackendFactory",
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
    "load_plugins",
    "lookup_model",
    "register_backend",
    "unregister_backend",
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
