"""Completion callbacks: a signed POST to the job's ``callback_url``, retried with backoff.

What is sent: a JSON body naming the job and its final status, never the extracted content
(:func:`callback_body`), with these headers:

- ``Content-Type: application/json``
- ``Invoiceai-Signature: t=<unix seconds>,v1=<hex>``: HMAC-SHA256 with the shared secret over
  ``f"{t}.".encode() + body`` (:func:`sign`). A receiver checks it with :func:`verify`, which
  also refuses timestamps more than five minutes off, so a captured call cannot be replayed later.
  The timestamp is taken anew for each attempt.
- ``Invoiceai-Delivery: <id>``: the same on every attempt of one delivery, so a receiver that got
  an attempt whose answer was lost can drop the repeat.
- ``Invoiceai-Attempt: <n>``: 1 for the first attempt.

A 2xx answer is a success. Anything else (redirects included: they are never followed), a
network error or the per-attempt timeout is a failure, retried after ``backoff_s * 2**(n-1)``
seconds with jitter, capped, and longer when a 429 or 503 says ``Retry-After``. Every attempt is
reported to ``on_attempt`` with the URL masked (no user info, no query string).

The callback URL passes the SSRF guard that URL sources pass
(:class:`invoiceai.documents.hops.FetchState`) before *every* attempt: http(s) only, and the host
is resolved and every address must be public; the request is then sent to the checked address
(``Host`` header and TLS name kept), so a DNS answer that changes between check and connect
(DNS rebinding) cannot redirect it. Internal addresses are allowed only with
``Settings(allow_private_urls=True)`` (``INVOICEAI_ALLOW_PRIVATE_URLS=1``), as for URL sources.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from invoiceai._version import __version__
from invoiceai.config import Settings
from invoiceai.documents.fetch import AsyncResolver, resolve_host
from invoiceai.documents.hops import FetchState
from invoiceai.documents.urls import PinnedRequest, display_url
from invoiceai.errors import FetchError, UnsafeURLError

if TYPE_CHECKING:
    import httpx2

__all__ = [
    "ATTEMPT_HEADER",
    "DELIVERY_HEADER",
    "FINAL_STATUSES",
    "SIGNATURE_HEADER",
    "WebhookAttempt",
    "backoff_delay",
    "callback_body",
    "check_callback_url",
    "deliver",
    "send_attempt",
    "sign",
    "signature_header",
    "verify",
    "webhook_client",
]

SIGNATURE_HEADER = "Invoiceai-Signature"
DELIVERY_HEADER = "Invoiceai-Delivery"
ATTEMPT_HEADER = "Invoiceai-Attempt"
FINAL_STATUSES = ("succeeded", "failed", "canceled")
"""The job statuses a completion callback reports."""

_RETRY_AFTER_STATUSES = frozenset({429, 503})


def sign(body: bytes, secret: bytes | str, timestamp: int) -> str:
    """Returns the hex HMAC-SHA256 of ``f"{timestamp}.".encode() + body`` under ``secret``."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.new(key, f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()


def signature_header(body: bytes, secret: bytes | str, timestamp: int) -> str:
    """Returns the ``Invoiceai-Signature`` value: ``t=<timestamp>,v1=<hex>``."""
    return f"t={timestamp},v1={sign(body, secret, timestamp)}"


def verify(
    body: bytes,
    header: str | None,
    secret: bytes | str,
    *,
    tolerance_s: float = 300,
    now: float | None = None,
) -> bool:
    """Checks an ``Invoiceai-Signature`` header against the raw body a receiver got.

    Args:
        body: The request body exactly as received (before any JSON parsing).
        header: The ``Invoiceai-Signature`` value; ``None`` (missing) fails.
        secret: The shared webhook secret.
        tolerance_s: Most seconds the timestamp may be off from ``now``, either way.
        now: Unix time; defaults to ``time.time()``.

    Returns:
        ``True`` when the timestamp is recent and one ``v1`` signature matches (several are
        accepted, for secret rotation); ``False`` for anything else, a malformed header included.
    """
    if not header:
        return False
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = sign(body, secret, timestamp).encode("ascii")
    # Every candidate is compared, in constant time each, so timing tells nothing.
    matches = [hmac.compare_digest(expected, candidate.encode("utf-8", "replace")) for candidate in candidates]
    return any(matches)


def callback_body(job_id: str, status: str, *, batch_id: str | None = None) -> bytes:
    """Builds the callback's JSON body: the job id and its final status, nothing else.

    Args:
        job_id: The job's id.
        status: One of :data:`FINAL_STATUSES`.
        batch_id: The batch the job belongs to, if any.

    Returns:
        Compact JSON with sorted keys, e.g. ``{"job_id":"j_1","status":"succeeded"}``.

    Raises:
        ValueError: ``status`` is not a final status.
    """
    if status not in FINAL_STATUSES:
        raise ValueError(f"A callback reports a final status ({', '.join(FINAL_STATUSES)}), not {status!r}.")
    payload = {"job_id": job_id, "status": status}
    if batch_id is not None:
        payload["batch_id"] = batch_id
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")


@dataclasses.dataclass(frozen=True)
class WebhookAttempt:
    """One delivery attempt, as reported to ``on_attempt`` (for the audit trail and logs).

    Attributes:
        url_masked: The callback URL without user info or query string.
        attempt: 1-based attempt number.
        status: The HTTP status answered, or ``None`` when no answer came.
        error: Why the attempt failed, or ``None`` on success.
        seconds: How long the attempt took.
    """

    url_masked: str
    attempt: int
    status: int | None
    error: str | None
    seconds: float

    @property
    def ok(self) -> bool:
        """Whether this attempt delivered the callback (a 2xx answer)."""
        return self.error is None


def backoff_delay(
    attempt: int,
    backoff_s: float,
    *,
    max_s: float = 60.0,
    retry_after: float | None = None,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based) before the next.

    The base doubles each attempt (``backoff_s``, ``2 * backoff_s``, ...) up to ``max_s``; the
    wait is drawn between half the base and the base ("equal jitter"), so receivers that fail
    together are not retried together. A server's ``Retry-After`` (capped at ``max_s``) is a floor.
    """
    base = min(max_s, backoff_s * 2.0 ** (attempt - 1))
    delay = base / 2 + rng() * base / 2
    if retry_after is not None:
        delay = max(delay, min(max_s, retry_after))
    return delay


async def check_callback_url(
    url: str, *, settings: Settings | None = None, resolver: AsyncResolver | None = None
) -> PinnedRequest:
    """Runs the URL-source SSRF guard on a callback URL and returns the request to send.

    Call it when a job is submitted, to refuse a bad ``callback_url`` at once; :func:`deliver`
    calls it again before every attempt.

    Args:
        url: The callback URL.
        settings: ``allow_private_urls`` lets internal addresses through; defaults to
            ``Settings.load()`` (the environment).
        resolver: Async name resolution, for tests; defaults to the system resolver.

    Returns:
        The request pinned to a checked address (unpinned when private URLs are allowed).

    Raises:
        UnsafeURLError: Not an http(s) URL, or the host is (or resolves to) an internal address.
        FetchError: The host does not resolve.
    """
    state = FetchState(url, settings or Settings.load())
    hop = state.next_hop()
    addresses = None if hop.lookup is None else await (resolver or _resolve)(*hop.lookup)
    return state.pin(hop, addresses)


async def _resolve(host: str, port: int) -> list[str]:
    return await asyncio.to_thread(resolve_host, host, port)


async def deliver(
    url: str,
    body: bytes,
    *,
    secret: bytes,
    on_attempt: Callable[[WebhookAttempt], None],
    attempts: int = 5,
    backoff_s: float = 1.0,
    max_backoff_s: float = 60.0,
    timeout_s: float = 10.0,
    delivery_id: str | None = None,
    settings: Settings | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
    resolver: AsyncResolver | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.time,
) -> bool:
    """POSTs a signed callback, retrying failures with exponential backoff and jitter.

    Args:
        url: The callback URL (checked by the SSRF guard before every attempt).
        body: The JSON body, from :func:`callback_body`.
        secret: The HMAC secret shared with the receiver.
        on_attempt: Called after every attempt, successful or not.
        attempts: Most attempts, >= 1.
        backoff_s: The first wait; it doubles each attempt (see :func:`backoff_delay`).
        max_backoff_s: The longest wait between attempts.
        timeout_s: Limit on one attempt, connecting to reading the status.
        delivery_id: The ``Invoiceai-Delivery`` value; a random one by default.
        settings: For the SSRF guard (``allow_private_urls``); ``Settings.load()`` by default.
        transport: The httpx2 transport, for tests; a real one by default.
        resolver: Async name resolution, for tests.
        sleep: Waits between attempts; tests inject one that returns at once.
        clock: Unix time for the signature's timestamp.

    Returns:
        ``True`` once an attempt got a 2xx answer, ``False`` when every attempt failed.

    Raises:
        UnsafeURLError: The guard refused the URL (reported to ``on_attempt`` first); never retried.
        ValueError: ``attempts`` is below 1.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts!r}.")
    call = _Call(
        url, body, secret, delivery_id or uuid.uuid4().hex, settings or Settings.load(), resolver, clock, on_attempt
    )
    async with webhook_client(transport=transport, timeout_s=timeout_s) as client:
        for number in range(1, attempts + 1):
            delivered, retry_after = await call.attempt(client, number, timeout_s)
            if delivered:
                return True
            if number < attempts:
                await sleep(backoff_delay(number, backoff_s, max_s=max_backoff_s, retry_after=retry_after))
    return False


async def send_attempt(
    url: str,
    body: bytes,
    *,
    secret: bytes,
    number: int,
    delivery_id: str,
    on_attempt: Callable[[WebhookAttempt], None],
    timeout_s: float = 10.0,
    settings: Settings | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
    resolver: AsyncResolver | None = None,
    clock: Callable[[], float] = time.time,
    client: httpx2.AsyncClient | None = None,
) -> tuple[bool, float | None]:
    """Makes attempt ``number`` of a delivery: the SSRF guard, then one signed POST; no retry.

    The outbox (:mod:`invoiceai.server.outbox`) calls this once per stored attempt, so the
    retries survive the process; :func:`deliver` is the same attempt in a loop, in memory.

    Args:
        url: The callback URL (checked by the SSRF guard first).
        body: The JSON body, from :func:`callback_body`.
        secret: The HMAC secret; the signature's timestamp is taken now, from ``clock``.
        number: The attempt's number, sent as ``Invoiceai-Attempt``.
        delivery_id: The ``Invoiceai-Delivery`` value, the same on every attempt.
        on_attempt: Called with the attempt once it is over.
        timeout_s: Limit on the attempt, resolving to reading the status.
        settings: For the SSRF guard (``allow_private_urls``); ``Settings.load()`` by default.
        transport: The httpx2 transport, for tests.
        resolver: Async name resolution, for tests.
        clock: Unix time for the signature's timestamp.
        client: An open client to send with (see :func:`webhook_client`); many attempts made at
            once share one, since building a client (its TLS context) costs tens of milliseconds
            of CPU. Without one, a client is opened for this attempt (with ``transport``).

    Returns:
        Whether it was delivered (a 2xx answer), and the ``Retry-After`` seconds a 429 or 503 gave.

    Raises:
        UnsafeURLError: The guard refused the URL (reported to ``on_attempt`` first): never retry it.
    """
    call = _Call(url, body, secret, delivery_id, settings or Settings.load(), resolver, clock, on_attempt)
    if client is not None:
        return await call.attempt(client, number, timeout_s)
    async with webhook_client(transport=transport, timeout_s=timeout_s) as own:
        return await call.attempt(own, number, timeout_s)


def webhook_client(
    *, transport: httpx2.AsyncBaseTransport | None = None, timeout_s: float = 10.0
) -> httpx2.AsyncClient:
    """An httpx2 client as webhook attempts need it: no redirects followed, no proxy settings from the environment."""
    import httpx2

    return httpx2.AsyncClient(transport=transport, trust_env=False, follow_redirects=False, timeout=timeout_s)


@dataclasses.dataclass(frozen=True)
class _Call:
    """What every attempt of one delivery shares."""

    url: str
    body: bytes
    secret: bytes
    delivery_id: str
    settings: Settings
    resolver: AsyncResolver | None
    clock: Callable[[], float]
    on_attempt: Callable[[WebhookAttempt], None]

    async def attempt(self, client: httpx2.AsyncClient, number: int, timeout_s: float) -> tuple[bool, float | None]:
        """Checks the URL, sends, and reports the attempt.

        Returns:
            Whether it was delivered, and the server's ``Retry-After`` seconds if it gave one.

        Raises:
            UnsafeURLError: The SSRF guard refused the URL (reported first).
        """
        started = time.perf_counter()
        try:
            # Bounded too: a resolver that hangs must not hold the delivery forever.
            guard = check_callback_url(self.url, settings=self.settings, resolver=self.resolver)
            request = await asyncio.wait_for(guard, timeout_s)
        except asyncio.TimeoutError:
            self.report(number, None, f"the host did not resolve within {timeout_s:g} s", started)
            return False, None
        except UnsafeURLError as exc:
            self.report(number, None, f"refused: {exc.message}", started)
            raise
        except FetchError as exc:  # the name did not resolve: may be transient
            self.report(number, None, exc.message, started)
            return False, None
        headers = {
            **request.headers,
            "Content-Type": "application/json",
            "User-Agent": f"invoiceai/{__version__}",
            SIGNATURE_HEADER: signature_header(self.body, self.secret, int(self.clock())),
            DELIVERY_HEADER: self.delivery_id,
            ATTEMPT_HEADER: str(number),
        }
        status, error, retry_after = await _post(client, request, self.body, headers, timeout_s)
        self.report(number, status, None if error is None else error.replace(self.url, display_url(self.url)), started)
        return error is None, retry_after

    def report(self, number: int, status: int | None, error: str | None, started: float) -> None:
        """Hands the attempt to ``on_attempt``: the URL masked, the time it took."""
        self.on_attempt(
            WebhookAttempt(
                url_masked=display_url(self.url),
                attempt=number,
                status=status,
                error=error,
                seconds=time.perf_counter() - started,
            )
        )


async def _post(
    client: httpx2.AsyncClient, request: PinnedRequest, body: bytes, headers: dict[str, str], timeout_s: float
) -> tuple[int | None, str | None, float | None]:
    """Sends one attempt; returns ``(status, error, retry_after)``, ``error`` ``None`` on success."""
    outgoing = client.build_request("POST", request.url, content=body, headers=headers, extensions=request.extensions)
    try:
        # wait_for bounds the whole attempt: httpx2's timeouts are per socket operation.
        response = await asyncio.wait_for(client.send(outgoing, stream=True, follow_redirects=False), timeout_s)
    except asyncio.TimeoutError:
        return None, f"no answer within {timeout_s:g} s", None
    except Exception as exc:  # any failure to get an answer is one failed attempt, to retry
        return None, f"{type(exc).__name__}: {exc}"[:300], None
    # The body is never read: the status is the answer, and a large body must not be downloaded.
    await response.aclose()
    status = response.status_code
    if 200 <= status < 300:
        return status, None, None
    if 300 <= status < 400:
        return status, f"HTTP {status}: redirects are not followed; configure the final URL", None
    retry_after = _retry_after(response.headers.get("retry-after")) if status in _RETRY_AFTER_STATUSES else None
    return status, f"HTTP {status}", retry_after


def _retry_after(value: str | None) -> float | None:
    # Only the delay-seconds form; an HTTP date is rare from a webhook receiver and ignored.
    if value is None or not value.strip().isdigit():
        return None
    return float(value.strip())
