"""Model backends: the :class:`Backend` protocol, the registry and :class:`ClaudeBackend`.

Importing this package is cheap: ``ClaudeBackend`` and the modules behind it are imported on
first attribute access, and the anthropic SDK only when a backend first talks to the API.

* ``base``: the :class:`Backend` protocol and :class:`BackendResult`, what every backend shares.
* ``registry``: backends by name, built-in and entry-point plugins.
* ``claude``: the Claude package (client, requests, replies, retries, models, prices, slots);
  its most used names are re-exported here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoiceai.backends.base import Backend, BackendResult, ExtractOptions, TokenBudgetExceededError
from invoiceai.backends.registry import (
    ENTRY_POINT_GROUP,
    BackendFactory,
    BackendRegistry,
    backend_names,
    create_backend,
    get_backend_factory,
)
from invoiceai.lazy import lazy_exports

if TYPE_CHECKING:
    from invoiceai.backends.claude import (
        DEFAULT_PRICES,
        ClaudeBackend,
        InputMode,
        ModelSpec,
        ModelState,
        Price,
        PriceTable,
        RequestLimits,
        RetryPolicy,
        lookup_model,
    )

__all__ = [
    "DEFAULT_PRICES",
    "ENTRY_POINT_GROUP",
    "Backend",
    "BackendFactory",
    "BackendRegistry",
    "BackendResult",
    "ClaudeBackend",
    "ExtractOptions",
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


# Every name of __all__ not defined above comes from the Claude package, imported on first use.
__getattr__, __dir__ = lazy_exports(
    __name__, globals(), dict.fromkeys(set(__all__) - set(globals()), "invoiceai.backends.claude"), __all__
)
