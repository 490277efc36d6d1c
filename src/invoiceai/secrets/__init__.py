"""Masking secrets before they reach a repr, a message, a log record or a traceback.

One masking function, :func:`mask_text`, is used for everything invoiceai shows:

- :func:`mask_text` replaces secrets in free text: every secret given to it, every secret the
  library was configured with (:func:`register_secret`; the Claude backend registers its API key,
  also the one inside an injected client, the Redis cache its password, and ``ANTHROPIC_API_KEY``
  always counts), in every encoding a message may carry them (raw, percent-encoded, JSON- or
  ``repr``-escaped) and without a key prefix such as ``sk-ant-api03-``; and anything shaped like a
  credential: an Anthropic key, an ``x-api-key`` or ``Authorization`` value, the password of a URL.
- :func:`mask_url` shows one URL with its passwords replaced by ``***``.
- :func:`scrub_exception` makes an exception safe to print with its whole ``__cause__`` /
  ``__context__`` chain: members whose text holds a secret are replaced by masked copies.
- :func:`get_logger` returns a logger whose records are masked (:class:`MaskingFilter`).

It imports nothing of ours outside this package, so every module may use it
(:mod:`invoiceai.errors` does, lazily).
"""

from __future__ import annotations

from invoiceai.secrets.chains import MaskedException, scrub_exception
from invoiceai.secrets.logs import MaskingFilter, get_logger
from invoiceai.secrets.masking import MASK, MIN_REGISTERED_LENGTH, mask_text, mask_url, register_secret, url_secrets

__all__ = [
    "MASK",
    "MIN_REGISTERED_LENGTH",
    "MaskedException",
    "MaskingFilter",
    "get_logger",
    "mask_text",
    "mask_url",
    "register_secret",
    "scrub_exception",
    "url_secrets",
]
