"""One request the fake Claude API received, as ``FakeClaudeAPI.requests`` keeps it."""

from __future__ import annotations

import dataclasses
from typing import Any

from invoiceai.testing.request_body import FakeImage, blocks, cache_paths, images, requested_schema

__all__ = ["RecordedRequest"]


@dataclasses.dataclass
class RecordedRequest:
    """One request the fake received.

    Attributes:
        method: HTTP method.
        path: URL path.
        headers: Request headers, lower-cased names.
        body: Parsed JSON body (``{}`` for none).
        started: The fake's clock (``time.monotonic()`` unless given another) on arrival.
        status: The status answered (0 for a reset or timeout).
        request_id: The ``request-id`` sent back.
    """

    method: str
    path: str
    headers: dict[str, str] = dataclasses.field(repr=False)
    body: dict[str, Any] = dataclasses.field(repr=False)
    started: float
    status: int = 0
    request_id: str = ""

    def images(self) -> list[FakeImage]:
        """Returns every image block of the request, in order, decoded."""
        return [image for image in images(self.body) if isinstance(image, FakeImage)]

    def texts(self) -> list[str]:
        """Returns the text of every text block of the messages, in order."""
        return [block["text"] for _, block in blocks(self.body) if block.get("type") == "text"]

    def cache_breakpoints(self) -> list[str]:
        """Returns where ``cache_control`` is set (``system.0``, ``messages.0.content.3``...)."""
        return cache_paths(self.body)

    def schema(self) -> dict[str, Any] | None:
        """Returns the schema asked for: ``output_config.format.schema`` or the forced tool's ``input_schema``."""
        return requested_schema(self.body)[0]
