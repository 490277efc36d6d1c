"""The Claude backend: everything that knows about the Claude Messages API.

Importing this package imports pydantic but not the anthropic SDK, which is imported only when
a backend first talks to the API. The registry refers to the backend as
``"invoiceai.backends.claude:ClaudeBackend"``.

Modules, one job each:

* ``backend``: :class:`ClaudeBackend`, the sync and async I/O loops.
* ``clients``: the anthropic clients, injected or built from the environment.
* ``detect``: asking the API once what a model supports.
* ``job`` / ``steps`` / ``ledger``: one document's extraction as a state machine without I/O.
* ``call`` / ``retry`` / ``api_errors`` / ``clock``: one request's attempts, waits and errors.
* ``request`` / ``reply`` / ``reask`` / ``chunking``: building requests and reading replies.
* ``models`` / ``prices``: what each model supports and costs.
* ``pacing`` / ``pacing_model`` / ``pacing_wait`` / ``sender``: holding requests until the
  account's rate limits (and the request cap) have room, and the I/O loops that wait and send.
"""

from __future__ import annotations

from invoiceai.backends.claude.backend import ClaudeBackend
from invoiceai.backends.claude.chunking import RequestLimits
from invoiceai.backends.claude.clock import SYSTEM_CLOCK, Clock, SystemClock
from invoiceai.backends.claude.models import ModelSpec, ModelState, lookup_model
from invoiceai.backends.claude.pacing import PacingSnapshot, WaitEvent
from invoiceai.backends.claude.prices import DEFAULT_PRICES, Price, PriceTable
from invoiceai.backends.claude.request import InputMode
from invoiceai.backends.claude.retry import RetryPolicy

__all__ = [
    "DEFAULT_PRICES",
    "SYSTEM_CLOCK",
    "ClaudeBackend",
    "Clock",
    "InputMode",
    "ModelSpec",
    "ModelState",
    "PacingSnapshot",
    "Price",
    "PriceTable",
    "RequestLimits",
    "RetryPolicy",
    "SystemClock",
    "WaitEvent",
    "lookup_model",
]
