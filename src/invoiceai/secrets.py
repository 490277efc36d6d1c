"""Keeping credentials out of messages: one masking function for literal secret values.

:func:`invoiceai.errors.redact` masks anything *shaped* like a key; :func:`mask_secrets` masks
the exact values a component knows it holds (an API key, a token, a password), whatever their
shape. Anything that quotes text from outside the library (an API error, a model's reply) into
a message or a log line passes it through here first.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["MASK", "mask_secrets"]

MASK = "***"
"""What a masked secret becomes."""


def mask_secrets(text: str, secrets: Iterable[str | None]) -> str:
    """Returns ``text`` with every occurrence of each secret replaced by :data:`MASK`.

    Args:
        text: A message that may quote a secret (an echoed key, a URL with a password).
        secrets: The literal values to hide; empty and ``None`` values are skipped.
    """
    # Longest first: a secret that contains another must not be left half masked.
    for secret in sorted((value for value in secrets if value), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
