"""Fetching URL sources with httpx2: the sync and async I/O loops, and nothing else.

Every decision between two network calls (scheme, redirect limit and target, addresses and
pinning, credentials, status, content type, size cap, deadline) is made by
:class:`invoiceai.documents.hops.FetchState`; this module only resolves, sends and reads, once
per client flavour. The body is streamed so no more than ``Settings.max_document_bytes`` is ever
held.

Each fetch has one deadline (``Settings.fetch_timeout``) covering name resolution, connecting,
every redirect hop, the headers and the body. httpx2's own timeouts are per socket operation, so
a server sending a byte every few seconds would never trip them; the deadline is enforced around
the whole exchange instead:

- **async:** the exchange runs under ``asyncio.wait_for``, which cancels it at the deadline;
- **sync:** the exchange runs in a worker thread that the caller waits for until the deadline.
  Then a watchdog shuts down every socket the exchange opened (reported by httpcore2's ``trace``
  extension), which ends any read blocked on them, and the caller gets the timeout at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any

from invoiceai._version import __version__
from invoiceai.documents.hops import FetchState, timed_out
from invoiceai.documents.urls import ACCEPT_HEADER, PinnedRequest, display_url
from invoiceai.errors import FetchError, InvoiceAIError

if TYPE_CHECKING:
    import httpx2

    from invoiceai.config import Settings
    from invoiceai.documents.model import Document

__all__ = ["AsyncResolver", "Resolver", "afetch_url", "fetch_url", "resolve_host"]

Resolver = Callable[[str, int], list[str]]
"""Resolves ``(host, port)`` to every IP address, as text."""

AsyncResolver = Callable[[str, int], Awaitable[list[str]]]
"""The async twin of :data:`Resolver`."""

_HEADERS = {
    "Accept": ACCEPT_HEADER,
    # Compressed bodies would be inflated chunk by chunk past what the server sent; asking for
    # none keeps the streamed size cap meaningful.
    "Accept-Encoding": "identity",
    "User-Agent": f"invoiceai/{__version__}",
}


def resolve_host(host: str, port: int) -> list[str]:
    """Resolves a host to all of its addresses with the system resolver.

    Args:
        host: Host name or IP literal.
        port: Port, passed to the resolver.

    Returns:
        Every address, deduplicated, in resolver order.

    Raises:
        FetchError: The name does not resolve.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise _unresolved(host, exc) from exc
    return _unique_addresses(infos)


async def _aresolve_host(host: str, port: int) -> list[str]:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise _unresolved(host, exc) from exc
    return _unique_addresses(infos)


def _unresolved(host: str, exc: BaseException) -> FetchError:
    return FetchError(f"Could not resolve {host}: {exc}. Check the URL and the network.")


def _unique_addresses(infos: Sequence[tuple[Any, ...]]) -> list[str]:
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def fetch_url(
    url: str,
    *,
    settings: Settings,
    client: httpx2.Client | None = None,
    resolver: Resolver | None = None,
) -> Document:
    """Downloads a URL source into a :class:`Document`.

    Args:
        url: An http(s) URL.
        settings: Supplies ``fetch_timeout``, ``max_document_bytes``, ``max_fetch_redirects`` and
            ``allow_private_urls``.
        client: An httpx2 client to send requests with (left open); a private one is created
            and closed otherwise. Redirects are always followed here, hop by hop, so each hop
            is checked.
        resolver: Name resolution, for tests; defaults to the system resolver.

    Returns:
        The fetched document, its type detected from the bytes.

    Raises:
        UnsafeURLError: The scheme or an address is refused (see :mod:`invoiceai.documents.urls`).
        FetchError: Network error, timeout, HTTP error status, wrong content type or too many
            redirects.
        DocumentTooLargeError: The body is larger than ``max_document_bytes``.
    """
    import httpx2

    resolve = resolver or resolve_host
    state = FetchState(url, settings)
    own_client = client is None
    if client is None:
        client = httpx2.Client(headers=_HEADERS, trust_env=False, follow_redirects=False)
    watchdog = _Watchdog()
    try:
        with _mapped_errors(url, settings):
            return _before_deadline(state, watchdog, lambda: _exchange(client, state, resolve, watchdog))
    finally:
        if own_client:
            client.close()


def _exchange(client: httpx2.Client, state: FetchState, resolve: Resolver, watchdog: _Watchdog) -> Document:
    """Resolves, sends and reads each hop (in the fetch's worker thread)."""
    while True:
        hop = state.next_hop()
        addresses = None if hop.lookup is None else resolve(*hop.lookup)
        request = state.pin(hop, addresses)
        watchdog.check()  # given up on while resolving: send nothing more
        with _send(
            client, request, timeout=state.remaining(), credentials=hop.credentials, trace=watchdog.trace
        ) as response:
            # A kept-alive connection of a caller's client was opened before this fetch; watch it now.
            watchdog.watch(response.extensions.get("network_stream"))
            if state.follows(response.status_code, response.headers):
                continue
            body = bytearray()
            for chunk in response.iter_bytes():
                state.append(body, chunk)
            return state.document(body)


def _before_deadline(state: FetchState, watchdog: _Watchdog, exchange: Callable[[], Document]) -> Document:
    """Runs ``exchange`` in a worker thread and waits for it until the fetch's deadline.

    Raises:
        TimeoutError: The deadline passed first (mapped onto the fetch's timeout error); the
            exchange's sockets are shut down, so its thread ends soon after.
    """
    outcome: Future[Document] = Future()
    context = contextvars.copy_context()  # the caller's context (tracing, say) goes along

    def work() -> None:
        try:
            outcome.set_result(context.run(exchange))
        except BaseException as exc:  # handed to the caller, whatever it is
            outcome.set_exception(exc)

    threading.Thread(target=work, name="invoiceai-fetch", daemon=True).start()
    try:
        return outcome.result(timeout=state.remaining())
    except FutureTimeoutError:  # not yet the builtin TimeoutError on Python 3.10
        watchdog.fire()
        raise TimeoutError("the fetch's deadline passed") from None
    except BaseException:
        watchdog.fire()  # an interrupt, or the exchange's own error: stop any I/O still going
        raise


class _Watchdog:
    """Shuts down the sockets of one fetch when it is given up on, so no blocked read outlives it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.fired = False

    def trace(self, event: str, info: Mapping[str, Any]) -> None:
        """httpcore2's ``trace`` extension: every new connection (and its TLS layer) is reported here."""
        if event.endswith((".connect_tcp.complete", ".start_tls.complete")):
            self.watch(info.get("return_value"))

    def watch(self, stream: Any) -> None:
        """Remembers the socket under an httpcore2 network stream (shut down at once if already fired)."""
        get_extra_info = getattr(stream, "get_extra_info", None)
        sock = get_extra_info("socket") if callable(get_extra_info) else None
        if not isinstance(sock, socket.socket):
            return
        with self._lock:
            self._sockets.append(sock)
            fired = self.fired
        if fired:
            _shutdown(sock)

    def check(self) -> None:
        """Raises ``TimeoutError`` once the fetch has been given up on."""
        if self.fired:
            raise TimeoutError("the fetch was given up on")

    def fire(self) -> None:
        """Shuts down every socket seen so far, and any seen later."""
        with self._lock:
            self.fired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    # shutdown(), unlike close(), wakes a thread blocked in recv() on the socket. Called as the
    # plain socket method: SSLSocket.shutdown() would also drop the TLS object under that thread.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


async def afetch_url(
    url: str,
    *,
    settings: Settings,
    client: httpx2.AsyncClient | None = None,
    resolver: AsyncResolver | None = None,
) -> Document:
    """The async twin of :func:`fetch_url`, with an ``httpx2.AsyncClient``.

    Args:
        url: An http(s) URL.
        settings: See :func:`fetch_url`.
        client: An httpx2 async client (left open); a private one is created otherwise.
        resolver: Async name resolution, for tests; defaults to the event loop's resolver.

    Returns:
        The fetched document.

    Raises:
        UnsafeURLError: See :func:`fetch_url`.
        FetchError: See :func:`fetch_url`.
        DocumentTooLargeError: See :func:`fetch_url`.
    """
    import httpx2

    resolve = resolver or _aresolve_host
    state = FetchState(url, settings)
    own_client = client is None
    if client is None:
        client = httpx2.AsyncClient(headers=_HEADERS, trust_env=False, follow_redirects=False)
    try:
        with _mapped_errors(url, settings):
            # Cancelled at the deadline, wherever it is: resolving, connecting, headers or body.
            return await asyncio.wait_for(_aexchange(client, state, resolve), timeout=state.remaining())
    finally:
        if own_client:
            await client.aclose()


async def _aexchange(client: httpx2.AsyncClient, state: FetchState, resolve: AsyncResolver) -> Document:
    """The async twin of :func:`_exchange`."""
    while True:
        hop = state.next_hop()
        addresses = None if hop.lookup is None else await resolve(*hop.lookup)
        request = state.pin(hop, addresses)
        async with _asend(client, request, timeout=state.remaining(), credentials=hop.credentials) as response:
            if state.follows(response.status_code, response.headers):
                continue
            body = bytearray()
            async for chunk in response.aiter_bytes():
                state.append(body, chunk)
            return state.document(body)


@contextmanager
def _send(
    client: httpx2.Client,
    request: PinnedRequest,
    *,
    timeout: float,
    credentials: bool,
    trace: Callable[[str, Mapping[str, Any]], None],
) -> Iterator[httpx2.Response]:
    """Sends one hop, streaming; without the client's credentials when they belong elsewhere."""
    import httpx2

    outgoing = _build(client, request, timeout=timeout, credentials=credentials)
    outgoing.extensions = {**outgoing.extensions, "trace": trace}
    auth = httpx2.USE_CLIENT_DEFAULT if credentials else None
    response = client.send(outgoing, stream=True, auth=auth, follow_redirects=False)
    try:
        yield response
    finally:
        response.close()


@asynccontextmanager
async def _asend(
    client: httpx2.AsyncClient, request: PinnedRequest, *, timeout: float, credentials: bool
) -> AsyncIterator[httpx2.Response]:
    """The async twin of :func:`_send`."""
    import httpx2

    outgoing = _build(client, request, timeout=timeout, credentials=credentials)
    auth = httpx2.USE_CLIENT_DEFAULT if credentials else None
    response = await client.send(outgoing, stream=True, auth=auth, follow_redirects=False)
    try:
        yield response
    finally:
        await response.aclose()


def _build(
    client: httpx2.Client | httpx2.AsyncClient, request: PinnedRequest, *, timeout: float, credentials: bool
) -> httpx2.Request:
    outgoing = client.build_request(
        "GET",
        request.url,
        headers={**_HEADERS, **request.headers},
        extensions=request.extensions,
        timeout=timeout,
    )
    if not credentials:
        # A default Authorization header of the client, set for the original origin.
        outgoing.headers.pop("Authorization", None)
    return outgoing


@contextmanager
def _mapped_errors(url: str, settings: Settings) -> Iterator[None]:
    import httpx2

    try:
        yield
    except InvoiceAIError:
        raise
    except (httpx2.TimeoutException, asyncio.TimeoutError, TimeoutError) as exc:
        raise timed_out(url, settings) from exc
    except httpx2.HTTPError as exc:
        raise FetchError(f"Could not fetch {display_url(url)}: {type(exc).__name__}: {exc}.") from exc
    except (httpx2.StreamError, httpx2.InvalidURL) as exc:
        raise FetchError(f"Could not fetch {display_url(url)}: {type(exc).__name__}: {exc}.") from exc
    except (OSError, UnicodeError, ValueError, OverflowError) as exc:
        # httpcore2 leaves these unwrapped: a host name idna refuses, a port out of range.
        raise FetchError(f"Could not fetch {display_url(url)}: {type(exc).__name__}: {exc}.") from exc
    except Exception as exc:
        # anyio's happy-eyeballs task group raises an ExceptionGroup of the above.
        raise FetchError(f"Could not fetch {display_url(url)}: {type(exc).__name__}.") from exc
