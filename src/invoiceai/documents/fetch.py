"""Fetching URL sources with httpx2: the sync and async I/O loops.

Every decision (scheme, addresses, redirects, content type) lives in
:mod:`invoiceai.documents.urls`; this module only repeats the I/O for the two client flavours.
Each fetch has one deadline (``Settings.fetch_timeout``) covering name resolution, every redirect
hop and the body, and the body is streamed so no more than ``Settings.max_document_bytes`` is
ever held.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING

from invoiceai._version import __version__
from invoiceai.documents.model import Document, too_large
from invoiceai.documents.urls import (
    ACCEPT_HEADER,
    PinnedRequest,
    check_content_type,
    check_scheme,
    display_url,
    ip_literal,
    keeps_credentials,
    name_from_url,
    pin_request,
    redirect_target,
)
from invoiceai.errors import FetchError, InvoiceAIError, UnsafeURLError

if TYPE_CHECKING:
    import httpx2

    from invoiceai.config import Settings

__all__ = ["AsyncResolver", "Resolver", "afetch_url", "fetch_url", "resolve_host"]

Resolver = Callable[[str, int], list[str]]
"""Resolves ``(host, port)`` to every IP address, as text."""

AsyncResolver = Callable[[str, int], Awaitable[list[str]]]
"""The async twin of :data:`Resolver`."""

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
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
        raise FetchError(f"Could not resolve {host}: {exc}. Check the URL and the network.") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def _aresolve_host(host: str, port: int) -> list[str]:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise FetchError(f"Could not resolve {host}: {exc}. Check the URL and the network.") from exc
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
    deadline = time.monotonic() + settings.fetch_timeout
    current = original = _parse(url)
    credentials = True
    own_client = client is None
    if client is None:
        client = httpx2.Client(headers=_HEADERS, trust_env=False, follow_redirects=False)
    try:
        with _mapped_errors(url, settings):
            for _ in range(settings.max_fetch_redirects + 1):
                check_scheme(current, url)
                credentials = credentials and keeps_credentials(original, current)
                if settings.allow_private_urls:
                    request = PinnedRequest(url=current, headers={}, extensions={})
                else:
                    literal = ip_literal(current.host)
                    port = current.port or _default_port(current)
                    addresses = [literal] if literal else _resolve_in_time(resolve, current.host, port, deadline)
                    request = pin_request(current, addresses, original=url)
                with _send(
                    client, request, timeout=_remaining(deadline, url, settings), credentials=credentials
                ) as response:
                    if response.status_code in _REDIRECT_STATUSES:
                        current = redirect_target(current, response.headers.get("location"), original=url)
                        continue
                    _check_response(response, url, settings)
                    body = bytearray()
                    for chunk in response.iter_bytes():
                        _append_capped(body, chunk, url, settings)
                        _remaining(deadline, url, settings)
                    return Document.from_bytes(
                        bytes(body), name=name_from_url(current), max_bytes=settings.max_document_bytes
                    )
            raise _too_many_redirects(url, settings)
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
    deadline = time.monotonic() + settings.fetch_timeout
    current = original = _parse(url)
    credentials = True
    own_client = client is None
    if client is None:
        client = httpx2.AsyncClient(headers=_HEADERS, trust_env=False, follow_redirects=False)
    try:
        with _mapped_errors(url, settings):
            for _ in range(settings.max_fetch_redirects + 1):
                check_scheme(current, url)
                credentials = credentials and keeps_credentials(original, current)
                if settings.allow_private_urls:
                    request = PinnedRequest(url=current, headers={}, extensions={})
                else:
                    literal = ip_literal(current.host)
                    port = current.port or _default_port(current)
                    addresses = (
                        [literal]
                        if literal
                        else await asyncio.wait_for(
                            resolve(current.host, port), timeout=_remaining(deadline, url, settings)
                        )
                    )
                    request = pin_request(current, addresses, original=url)
                async with _asend(
                    client, request, timeout=_remaining(deadline, url, settings), credentials=credentials
                ) as response:
                    if response.status_code in _REDIRECT_STATUSES:
                        current = redirect_target(current, response.headers.get("location"), original=url)
                        continue
                    _check_response(response, url, settings)
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        _append_capped(body, chunk, url, settings)
                        _remaining(deadline, url, settings)
                    return Document.from_bytes(
                        bytes(body), name=name_from_url(current), max_bytes=settings.max_document_bytes
                    )
            raise _too_many_redirects(url, settings)
    finally:
        if own_client:
            await client.aclose()


def _parse(url: str) -> httpx2.URL:
    import httpx2

    try:
        return httpx2.URL(url)
    except Exception as exc:  # httpx2.InvalidURL, or TypeError/ValueError from odd input
        raise UnsafeURLError(f"Refused to fetch {display_url(url)}: it is not a valid URL ({exc}).") from exc


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


def _default_port(url: httpx2.URL) -> int:
    return 443 if url.scheme == "https" else 80


def _remaining(deadline: float, url: str, settings: Settings) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _timed_out(url, settings)
    return left


def _check_response(response: httpx2.Response, url: str, settings: Settings) -> None:
    if response.status_code >= 400 or response.status_code < 200:
        raise FetchError(
            f"Could not fetch {display_url(url)}: the server answered HTTP {response.status_code}. "
            "Check that the URL is right and publicly readable (signed links expire)."
        )
    check_content_type(response.headers.get("content-type"), original=url)
    declared = response.headers.get("content-length")
    if declared and declared.strip().isdigit() and int(declared) > settings.max_document_bytes:
        raise too_large(display_url(url), int(declared), settings.max_document_bytes)


def _append_capped(body: bytearray, chunk: bytes, url: str, settings: Settings) -> None:
    if len(body) + len(chunk) > settings.max_document_bytes:
        raise too_large(display_url(url), None, settings.max_document_bytes)
    body += chunk


def _timed_out(url: str, settings: Settings) -> FetchError:
    return FetchError(
        f"Could not fetch {display_url(url)}: it took longer than {settings.fetch_timeout:g} s. "
        "Retry later, or raise Settings.fetch_timeout (INVOICEAI_FETCH_TIMEOUT)."
    )


def _too_many_redirects(url: str, settings: Settings) -> FetchError:
    return FetchError(
        f"Could not fetch {display_url(url)}: more than {settings.max_fetch_redirects} redirects. "
        "Pass the final URL, or raise Settings.max_fetch_redirects (INVOICEAI_MAX_FETCH_REDIRECTS)."
    )


@contextmanager
def _mapped_errors(url: str, settings: Settings) -> Iterator[None]:
    import httpx2

    try:
        yield
    except InvoiceAIError:
        raise
    except (httpx2.TimeoutException, asyncio.TimeoutError, TimeoutError) as exc:
        raise _timed_out(url, settings) from exc
    except httpx2.HTTPError as exc:
        raise FetchError(f"Could not fetch {display_url(url)}: {type(exc).__name__}: {exc}.") from exc
    except (httpx2.StreamError, httpx2.InvalidURL) as exc:
        raise FetchError(f"Could not fetch {display_url(url)}: {type(exc).__name__}: {exc}.") from exc
