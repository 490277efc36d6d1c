"""Fetching URL sources with httpx2: the sync and async I/O loops, and nothing else.

Every decision between two network calls (scheme, redirect limit and target, addresses and
pinning, credentials, status, content type, size cap, deadline) is made by
:class:`invoiceai.documents.hops.FetchState`; this module only resolves, sends and reads, once
per client flavour. Each fetch has one deadline (``Settings.fetch_timeout``) covering name
resolution, every redirect hop and the body, and the body is streamed so no more than
``Settings.max_document_bytes`` is ever held.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
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
    try:
        with _mapped_errors(url, settings):
            while True:
                hop = state.next_hop()
                addresses = None if hop.lookup is None else _resolve_in_time(resolve, *hop.lookup, state.deadline)
                request = state.pin(hop, addresses)
                with _send(client, request, timeout=state.remaining(), credentials=hop.credentials) as response:
                    if state.follows(response.status_code, response.headers):
                        continue
                    body = bytearray()
                    for chunk in response.iter_bytes():
                        state.append(body, chunk)
                    return state.document(body)
    finally:
        if own_client:
            client.close()


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
            while True:
                hop = state.next_hop()
                addresses = (
                    None
                    if hop.lookup is None
                    else await asyncio.wait_for(resolve(*hop.lookup), timeout=state.remaining())
                )
                request = state.pin(hop, addresses)
                async with _asend(client, request, timeout=state.remaining(), credentials=hop.credentials) as response:
                    if state.follows(response.status_code, response.headers):
                        continue
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        state.append(body, chunk)
                    return state.document(body)
    finally:
        if own_client:
            await client.aclose()


@contextmanager
def _send(
    client: httpx2.Client, request: PinnedRequest, *, timeout: float, credentials: bool
) -> Iterator[httpx2.Response]:
    """Sends one hop, streaming; without the client's credentials when they belong elsewhere."""
    import httpx2

    outgoing = _build(client, request, timeout=timeout, credentials=credentials)
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


def _resolve_in_time(resolve: Resolver, host: str, port: int, deadline: float) -> list[str]:
    """Runs a blocking resolver, giving up when the fetch's deadline passes.

    The system resolver has no timeout of its own that we control, so it runs in a daemon
    thread that is left to finish on its own if the deadline passes first.

    Raises:
        TimeoutError: The deadline passed first (mapped onto the fetch's timeout error).
    """
    result: Future[list[str]] = Future()

    def work() -> None:
        try:
            result.set_result(resolve(host, port))
        except BaseException as exc:  # handed to the caller, whatever it is
            result.set_exception(exc)

    threading.Thread(target=work, name="invoiceai-resolve", daemon=True).start()
    try:
        return result.result(timeout=max(0.0, deadline - time.monotonic()))
    except FutureTimeoutError:  # not yet the builtin TimeoutError on Python 3.10
        raise TimeoutError(f"resolving {host} took too long") from None


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
