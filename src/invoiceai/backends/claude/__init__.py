"""The Claude backend: everything that knows about the Claude Messages API.

Importing this package is cheap: the names below are imported on first attribute access, and
the anthropic SDK only when a backend first talks to the API. The registry refers to the
backend as ``"invoiceai.backends.claude:ClaudeBackend"``.

Modules, one job each:

* ``backend``: :class:`ClaudeBackend`, the sync and async I/O loops.
* ``clients``: the anthropic clients, injected or built from the environment.
* ``detect``: asking the API once what a model supports.
* ``job`` / ``steps`` / ``ledger``: one document's extraction as a state machine without I/O.
* ``call`` / ``retry`` / ``api_errors`` / ``clock``: one request's attempts, waits and errors.
* ``request`` / ``reply`` / ``reask`` / ``chunking``: building requests and reading replies.
* ``models`` / ``prices`` / ``slots``: what each model supports and costs, and the request cap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from invoiceai.backends.claude.backend import ClaudeBackend
    from invoiceai.backends.claude.chunking import RequestLimits
    from invoiceai.backends.claude.clock import SYSTEM_CLOCK, Clock, SystemClock
    from invoiceai.backends.claude.models import ModelSpec, ModelState, lookup_model
    from invoiceai.backends.claude.prices import DEFAULT_PRICES, Price, PriceTable
    from invoiceai.backends.claude.request import InputMode
    from invoiceai.backends.claude.retry import RetryPolicy

_LAZY: dict[str, str] = {
    "DEFAULT_PRICES": "invoiceai.backends.claude.prices",
    "SYSTEM_CLOCK": "invoiceai.backends.claude.clock",
    "ClaudeBackend": "invoiceai.backends.claude.backend",
    "Clock": "invoiceai.backends.claude.clock",
    "InputMode": "invoiceai.backends.claude.request",
    "ModelSpec": "invoiceai.backends.claude.models",
    "ModelState": "invoiceai.backends.claude.models",
    "Price": "invoiceai.backends.claude.prices",
    "PriceTable": "invoiceai.backends.claude.prices",
    "RequestLimits": "invoiceai.backends.claude.chunking",
    "RetryPolicy": "invoiceai.backends.claude.retry",
    "SystemClock": "invoiceai.backends.claude.clock",
    "lookup_model": "invoiceai.backends.claude.models",
}

__all__ = [
    "DEFAULT_PRICES",
    "SYSTEM_CLOCK",
    "ClaudeBackend",
    "Clock",
    "InputMode",
    "ModelSpec",
    "ModelState",
    "Price",
    "PriceTable",
    "RequestLimits",
    "RetryPolicy",
    "SystemClock",
    "lookup_model",
]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'invoiceai.backends.claude' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
