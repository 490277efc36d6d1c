"""A fake Claude Messages API: answers extraction requests from a given object, injects faults.

Use it behind the real anthropic SDK, either in-process through an ``httpx2.MockTransport``::

    api = FakeClaudeAPI(answer=Invoice(invoice_number="INV-1"))
    client = api.client()                      # anthropic.Anthropic over the mock transport
    backend = ClaudeBackend(client=client)

or as a loopback HTTP server, for code that builds its own client from ``ANTHROPIC_BASE_URL``::

    with FakeClaudeAPI(latency=0.2, max_concurrency=4).serve() as server:
        backend = ClaudeBackend(base_url=server.base_url, api_key="sk-ant-test")

It answers ``POST /v1/messages`` (structured outputs with the answer as JSON text, or forced
tool use with the answer as the tool input) and ``GET /v1/models/{id}``; checks requests the way
the API does (image count, sides and bytes, media types against the bytes, body size, cache
breakpoints, the schema); and records every request in :attr:`FakeClaudeAPI.requests`.

To test that a client never leaks its key, the fake echoes the request's key the way a careless
proxy would, wherever an answer holds ``{api_key}`` or ``{api_key_tail}``
(see :func:`invoiceai.testing.plans.echo_key`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from invoiceai.testing.api_checks import FakeModel, check_request
from invoiceai.testing.fake_batches import FakeBatches
from invoiceai.testing.faults import Fault
from invoiceai.testing.plans import Plan, echo_key, error_plan, model_info_plan, retry_after_headers, to_response
from invoiceai.testing.plans import with_headers as with_extra_headers
from invoiceai.testing.queue import AnswerQueue
from invoiceai.testing.rate_limits import RateLimiter, RateLimits, request_costs
from invoiceai.testing.recorded import RecordedRequest
from invoiceai.testing.request_body import (
    FakeImage,
    cache_paths,
    estimate_input,
    json_bytes,
    requested_schema,
    skeleton,
    static_prefix,
)
from invoiceai.testing.token_count import COUNT_TOKENS_PATH, count_tokens_plan

if TYPE_CHECKING:
    import anthropic
    import httpx2

    from invoiceai.testing.server import FakeClaudeServer

__all__ = ["FAKE_API_KEY", "FakeClaudeAPI", "FakeImage", "RecordedRequest"]

FAKE_API_KEY = "sk-ant-api03-fake-key-for-tests-only"
"""The key :meth:`FakeClaudeAPI.client` uses; the fake accepts any key."""

_MIN_CACHEABLE_TOKENS = 1024


class FakeClaudeAPI:
    """An in-memory Claude API for tests. Thread-safe.

    Args:
        answer: What the model "extracts": a Pydantic instance, a dict, or a callable
            ``answer(request: RecordedRequest)`` returning one. Defaults to an empty object that
            fits the requested schema (every nullable field null, every list empty).
        usage: Token counts reported per successful reply (keys of the API's ``usage``);
            defaults to an estimate from the request, with prompt caching simulated.
        latency: Seconds every ``/v1/messages`` answer takes.
        max_concurrency: Requests processed at once; more concurrent requests are answered 429
            with ``retry-after`` at once.
        concurrency_retry_after: The ``retry-after`` (seconds) of those 429s.
        max_image_side: Reject images with a longer side (when sent with
            ``transformations.oversized_image == "error"``) with the real ``image_dimensions_too_large``
            error; without that transformation they are accepted (the API would downsize them).
        structured_outputs: Whether the fake model supports ``output_config.format``.
        pdf_input: Whether the fake model accepts PDF document blocks.
        max_tokens_limit: Largest ``max_tokens`` accepted.
        model: Model id reported in replies (defaults to the requested one).
        clock: What :attr:`RecordedRequest.started` reads; a test's fake clock makes arrival
            times comparable with the backend's waits. Latency is always real time.
        on_request: Called with each request's record once its answer is decided and before it
            is sent, in the thread (or task) that serves it. Tests use it to learn that a request
            arrived or to hold it there (with an event); keep it non-blocking with async clients
            over the mock transport, which run on the event loop.
        response_headers: Headers added to every ``/v1/messages`` answer, replacing any of the
            same name (``request-id``...); values may hold ``{api_key}``.
        rate_limits: Token-bucket limits on requests, input and output tokens, reported in
            ``anthropic-ratelimit-*`` headers and enforced with 429 + ``retry-after``
            (:class:`~invoiceai.testing.RateLimits`; refusals counted in :attr:`rate_limiter`).
    """

    def __init__(
        self,
        answer: Any = None,
        *,
        usage: Mapping[str, int] | None = None,
        latency: float = 0.0,
        max_concurrency: int | None = None,
        concurrency_retry_after: float = 1.0,
        max_image_side: int | None = None,
        structured_outputs: bool = True,
        pdf_input: bool = True,
        max_tokens_limit: int = 64_000,
        model: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_request: Callable[[RecordedRequest], None] | None = None,
        response_headers: Mapping[str, str] | None = None,
        rate_limits: RateLimits | None = None,
    ) -> None:
        self.answer = answer
        self.usage = dict(usage) if usage is not None else None
        self.latency = latency
        self.max_concurrency = max_concurrency
        self.concurrency_retry_after = concurrency_retry_after
        self.max_image_side = max_image_side
        self.structured_outputs = structured_outputs
        self.pdf_input = pdf_input
        self.max_tokens_limit = max_tokens_limit
        self.model = model
        self.clock = clock
        self.on_request = on_request
        self.response_headers = dict(response_headers or {})
        self.rate_limiter = RateLimiter(rate_limits) if rate_limits is not None else None
        self.requests: list[RecordedRequest] = []
        self.model_lookups: list[str] = []
        self.peak_concurrency = 0
        self.concurrency_rejections = 0
        self.downsized_images = 0
        self._faults: AnswerQueue[Fault] = AnswerQueue()
        self._lock = threading.Lock()
        self._in_flight = 0
        self._ids = itertools.count(1)
        self._cached_prefixes: set[str] = set()
        self.batches = FakeBatches(self)  # the Message Batches endpoints and their switches

    def __repr__(self) -> str:
        return f"FakeClaudeAPI(requests={len(self.requests)}, queued_faults={len(self._faults)})"

    # -- configuration ---------------------------------------------------------------------

    def enqueue(self, *faults: Fault) -> FakeClaudeAPI:
        """Queues faults; each applies to the next ``/v1/messages`` request that passes validation."""
        self._faults.extend(faults)
        return self

    @property
    def pending_faults(self) -> int:
        """Faults not yet used."""
        return len(self._faults)

    @property
    def message_requests(self) -> list[RecordedRequest]:
        """The ``POST /v1/messages`` requests, in arrival order."""
        with self._lock:
            return [request for request in self.requests if request.path.endswith("/v1/messages")]

    # -- adapters ----------------------------------------------------------------------------

    def transport(self) -> httpx2.MockTransport:
        """Returns an ``httpx2.MockTransport`` for a sync ``httpx2.Client`` (latency uses ``time.sleep``)."""
        import httpx2

        def handler(request: httpx2.Request) -> httpx2.Response:
            plan = self.plan(request.method, request.url.path, request.headers.items(), request.content)
            try:
                if plan.delay:
                    time.sleep(plan.delay)
                return to_response(plan, request)
            finally:
                self.finish(plan)

        return httpx2.MockTransport(handler)

    def async_transport(self) -> httpx2.MockTransport:
        """Returns an ``httpx2.MockTransport`` for an ``httpx2.AsyncClient`` (latency uses ``asyncio.sleep``)."""
        import asyncio

        import httpx2

        async def handler(request: httpx2.Request) -> httpx2.Response:
            plan = self.plan(request.method, request.url.path, request.headers.items(), request.content)
            try:
                if plan.delay:
                    await asyncio.sleep(plan.delay)
                return to_response(plan, request)
            finally:
                self.finish(plan)

        return httpx2.MockTransport(handler)

    def client(self, **options: Any) -> anthropic.Anthropic:
        """Returns an ``anthropic.Anthropic`` wired to this fake (``max_retries=0`` unless given)."""
        import anthropic
        import httpx2

        options.setdefault("api_key", FAKE_API_KEY)
        options.setdefault("max_retries", 0)
        return anthropic.Anthropic(http_client=httpx2.Client(transport=self.transport()), **options)

    def async_client(self, **options: Any) -> anthropic.AsyncAnthropic:
        """Returns an ``anthropic.AsyncAnthropic`` wired to this fake (``max_retries=0`` unless given)."""
        import anthropic
        import httpx2

        options.setdefault("api_key", FAKE_API_KEY)
        options.setdefault("max_retries", 0)
        return anthropic.AsyncAnthropic(http_client=httpx2.AsyncClient(transport=self.async_transport()), **options)

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> FakeClaudeServer:
        """Starts a threaded loopback HTTP server for this fake; use it as a context manager."""
        from invoiceai.testing.server import FakeClaudeServer

        return FakeClaudeServer(self, host=host, port=port).start()

    # -- the core, shared by every adapter --------------------------------------------------

    def plan(self, method: str, path: str, headers: Any, body: bytes) -> Plan:
        """Decides the answer to one request. Adapters call :meth:`finish` with the result afterwards."""
        received = time.monotonic()
        arrived = self.clock()
        header_map = {str(name).lower(): str(value) for name, value in headers}
        try:
            parsed = json.loads(body) if body else {}
        except ValueError:
            parsed = None
        request_id = f"req_fake_{next(self._ids):06d}"
        record = RecordedRequest(method.upper(), path, header_map, parsed if isinstance(parsed, dict) else {}, arrived)
        record.request_id = request_id
        plan = self._decide(record, parsed, len(body), received)
        if record.path.endswith("/v1/messages"):
            plan = with_extra_headers(plan, self.response_headers)
        plan = echo_key(plan, header_map)
        record.status = plan.status if plan.action == "respond" else 0
        with self._lock:
            self.requests.append(record)
        if self.on_request is not None:
            try:
                self.on_request(record)
            except BaseException:
                self.finish(plan)
                raise
        return plan

    def finish(self, plan: Plan) -> None:
        """Ends a request started by :meth:`plan` (frees its concurrency slot)."""
        if plan.counted:
            with self._lock:
                self._in_flight -= 1

    def _decide(self, record: RecordedRequest, parsed: Any, size: int, received: float) -> Plan:
        rid = record.request_id
        if "/v1/messages/batches" in record.path:
            return self.batches.plan(record, parsed)
        if record.method == "GET" and "/v1/models/" in record.path:
            return self._model_info(record)
        if record.method == "POST" and record.path.endswith(COUNT_TOKENS_PATH):
            return count_tokens_plan(parsed, rid)
        if not (record.method == "POST" and record.path.endswith("/v1/messages")):
            return error_plan(404, "not_found_error", f"fake API has no {record.method} {record.path}", rid)
        if not isinstance(parsed, dict):
            return error_plan(400, "invalid_request_error", "the body is not a JSON object", rid)
        if self.rate_limiter is None:
            return self._message_plan(record, parsed, size, received)
        verdict = self.rate_limiter.admit(request_costs(parsed, estimate_input(parsed)[1]))
        if not verdict.admitted:
            message = self.rate_limiter.refusal_message(verdict)
            extra = (("retry-after", str(verdict.retry_after)), *verdict.headers.items())
            return error_plan(429, "rate_limit_error", message, rid, headers=extra)
        return with_extra_headers(self._message_plan(record, parsed, size, received), verdict.headers)

    def _message_plan(self, record: RecordedRequest, parsed: dict[str, Any], size: int, received: float) -> Plan:
        rid = record.request_id
        with self._lock:
            if self.max_concurrency is not None and self._in_flight >= self.max_concurrency:
                self.concurrency_rejections += 1
                return error_plan(
                    429,
                    "rate_limit_error",
                    "too many concurrent requests",
                    rid,
                    headers=retry_after_headers(self.concurrency_retry_after),
                )
            self._in_flight += 1
            self.peak_concurrency = max(self.peak_concurrency, self._in_flight)
        try:
            rejection = self._check(parsed, size, rid)
            if rejection is not None:
                return dataclasses.replace(rejection, delay=self._latency_left(received), counted=True)
            fault = self._faults.pop()
            plan = self._apply(fault, record, rid)
        except BaseException:
            self.finish(Plan("respond", counted=True))
            raise
        return dataclasses.replace(plan, delay=plan.delay + self._latency_left(received), counted=True)

    def answer_body(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Answers a Messages request body as ``POST /v1/messages`` would, without HTTP: ``(status, JSON)``."""
        rid = f"req_fake_{next(self._ids):06d}"
        record = RecordedRequest("POST", "/v1/messages", {}, body, self.clock(), request_id=rid)
        plan = self._check(body, len(json_bytes(body)), rid) or self._apply(self._faults.pop(), record, rid)
        return (plan.status if plan.action == "respond" else 0), (json.loads(plan.body) if plan.body else {})

    def _latency_left(self, received: float) -> float:
        # Measured from arrival, as a client sees it: the fake's own parsing happens inside it.
        return max(0.0, self.latency - (time.monotonic() - received))

    def _apply(self, fault: Fault | None, record: RecordedRequest, rid: str) -> Plan:
        if fault is None or fault.kind == "slow":
            return self._reply(record, rid, delay=fault.seconds if fault else 0.0)
        if fault.kind == "status":
            return error_plan(
                fault.status, fault.error_type, fault.message, rid, details=fault.details, headers=fault.headers
            )
        if fault.kind == "reset":
            return Plan("reset")
        if fault.kind == "timeout":
            return Plan("timeout", stall=fault.seconds)
        return self._reply(record, rid, fault=fault)

    # -- replies -----------------------------------------------------------------------------

    def _reply(self, record: RecordedRequest, rid: str, *, fault: Fault | None = None, delay: float = 0.0) -> Plan:
        body = record.body
        schema, tool_name = requested_schema(body)
        answer: Any
        if fault is not None and fault.kind == "reply":
            answer = fault.payload
        elif callable(self.answer):
            answer = self.answer(record)
        elif self.answer is not None:
            answer = self.answer
        else:
            answer = skeleton(schema or {}, (schema or {}).get("$defs", {}))
        text = answer if isinstance(answer, str) else json.dumps(_jsonable(answer), ensure_ascii=False)
        stop_reason = "tool_use" if tool_name else "end_turn"
        content: list[dict[str, Any]]
        extra: dict[str, Any] = {}
        kind = fault.kind if fault is not None else "reply"
        if kind == "truncated":
            stop_reason = "max_tokens"
            text = text[: max(1, len(text) // 2)]
        elif kind == "refusal":
            stop_reason = "refusal"
            explanation = fault.message if fault is not None else ""
            extra["stop_details"] = {"type": "refusal", "category": None, "explanation": explanation or None}
        elif kind == "context_exceeded":
            stop_reason = "model_context_window_exceeded"
            text = text[: max(1, len(text) // 3)]
        if kind == "refusal":
            content = []
        elif tool_name:
            try:
                tool_input = json.loads(text) if kind == "reply" else {}
            except ValueError:
                tool_input = {"raw": text}
            content = [{"type": "tool_use", "id": f"toolu_{rid}", "name": tool_name, "input": tool_input}]
        else:
            content = [{"type": "text", "text": text}]
        message = {
            "id": f"msg_{rid}",
            "type": "message",
            "role": "assistant",
            "model": self.model or body.get("model", "claude-fake"),
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": self._usage_for(body, text),
            **extra,
        }
        return Plan("respond", 200, (("request-id", rid),), json_bytes(message), delay=delay)

    def _usage_for(self, body: Mapping[str, Any], text: str) -> dict[str, Any]:
        if self.usage is not None:
            usage = {"cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, **self.usage}
            return {key: int(value) for key, value in usage.items()}
        prefix, total = estimate_input(body)
        created = read = 0
        if prefix >= _MIN_CACHEABLE_TOKENS and cache_paths(body):
            key = hashlib.sha256(json_bytes(static_prefix(body))).hexdigest()
            with self._lock:
                seen = key in self._cached_prefixes
                self._cached_prefixes.add(key)
            created, read = (0, prefix) if seen else (prefix, 0)
        return {
            "input_tokens": max(0, total - created - read),
            "output_tokens": max(1, math.ceil(len(text) / 3.5)),
            "cache_creation_input_tokens": created,
            "cache_read_input_tokens": read,
        }

    def _model_info(self, record: RecordedRequest) -> Plan:
        model_id = record.path.rsplit("/", 1)[-1]
        with self._lock:
            self.model_lookups.append(model_id)
        return model_info_plan(model_id, record.request_id, self._fake_model())

    def _fake_model(self) -> FakeModel:
        return FakeModel(self.structured_outputs, self.pdf_input, self.max_tokens_limit, self.max_image_side)

    def _check(self, body: Mapping[str, Any], size: int, rid: str) -> Plan | None:
        rejection, downsized = check_request(body, size, self._fake_model())
        if downsized:
            with self._lock:
                self.downsized_images += downsized
        if rejection is None:
            return None
        return error_plan(rejection.status, rejection.error_type, rejection.message, rid, details=rejection.details)


# -- helpers ----------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    return value
