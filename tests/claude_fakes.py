"""Shared helpers for the backend tests: run the same scenario through the sync and async API."""

from __future__ import annotations

import asyncio
from typing import Any

from invoiceai.backends import ClaudeBackend, RetryPolicy
from invoiceai.config import Settings
from invoiceai.schema import Invoice
from invoiceai.testing import FakeClaudeAPI

# Tiny waits so retries stay fast; retry-after headers are still honoured in full.
FAST = RetryPolicy(max_attempts=6, max_seconds=30.0, base_delay=0.005, max_delay=0.02)

USAGE = {"input_tokens": 1000, "output_tokens": 200, "cache_read_input_tokens": 300, "cache_creation_input_tokens": 50}

ANSWER = {
    "invoice_number": "INV-1",
    "issue_date": "2026-01-15",
    "currency": "EUR",
    "seller": {"name": "ACME GmbH"},
    "line_items": [{"description": "Widget", "quantity": "2", "unit_price": "5.00", "amount": "10.00"}],
    "subtotal": "10.00",
    "tax_total": "1.90",
    "total": "11.90",
}


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"max_attempts": FAST.max_attempts, "max_retry_seconds": FAST.max_seconds}
    values.update(overrides)
    return Settings(**values)


def make_backend(api: FakeClaudeAPI, flavour: str, **options: Any) -> ClaudeBackend:
    options.setdefault("retry", FAST)
    options.setdefault("settings", settings())
    if flavour == "sync":
        return ClaudeBackend(client=api.client(), **options)
    return ClaudeBackend(async_client=api.async_client(), **options)


def run(backend: ClaudeBackend, flavour: str, source: Any, schema: type[Any] = Invoice, **kwargs: Any) -> Any:
    if flavour == "sync":
        return backend.extract(source, schema, **kwargs)
    return asyncio.run(backend.aextract(source, schema, **kwargs))
