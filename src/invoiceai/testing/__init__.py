"""Test helpers for code that uses invoiceai: no network, no API key.

* :class:`FakeBackend`: a backend with queued replies and a call history, for testing code
  that calls an :class:`~invoiceai.backends.base.Backend` (or the extractor built on one).
* :class:`FakeClaudeAPI`: a fake Claude Messages API behind the real anthropic SDK, as an
  ``httpx2.MockTransport`` (:meth:`~FakeClaudeAPI.client`) or a loopback server
  (:meth:`~FakeClaudeAPI.serve`), with injectable :class:`Fault` s, latency, a concurrency cap,
  token-bucket :class:`RateLimits` with the real ``anthropic-ratelimit-*`` headers,
  and the Message Batches endpoints (:class:`FakeBatches`, with :class:`ItemFault` s).
* :class:`StaticPages`: a :class:`~invoiceai.pages.PageSource` from in-memory images.

See the "Testing with invoiceai.testing" page of the documentation for recipes.
"""

from __future__ import annotations

from invoiceai.testing.fake_api import FAKE_API_KEY, FakeClaudeAPI, FakeImage, RecordedRequest
from invoiceai.testing.fake_backend import FakeBackend, FakeCall, NoReplyQueuedError
from invoiceai.testing.fake_batches import FakeBatch, FakeBatches, ItemFault
from invoiceai.testing.faults import Fault
from invoiceai.testing.pages import StaticPages, image_info, make_page_image
from invoiceai.testing.plans import API_KEY_PLACEHOLDER, API_KEY_TAIL_PLACEHOLDER
from invoiceai.testing.rate_limits import RateLimits, TokenBucket
from invoiceai.testing.server import FakeClaudeServer

__all__ = [
    "API_KEY_PLACEHOLDER",
    "API_KEY_TAIL_PLACEHOLDER",
    "FAKE_API_KEY",
    "FakeBackend",
    "FakeBatch",
    "FakeBatches",
    "FakeCall",
    "FakeClaudeAPI",
    "FakeClaudeServer",
    "FakeImage",
    "Fault",
    "ItemFault",
    "NoReplyQueuedError",
    "RateLimits",
    "RecordedRequest",
    "StaticPages",
    "TokenBucket",
    "image_info",
    "make_page_image",
]
