"""The decisions of one URL fetch, hop by hop, with no I/O: a sans-I/O state object.

:class:`FetchState` decides everything between two network calls: whether the next URL may be
requested (scheme, redirect limit), what must be resolved and which address to pin it to (the
SSRF guard of :mod:`invoiceai.documents.urls`), whether the caller's credentials may follow a
redirect, what an answer means (a redirect to follow, an error, or a body to read) and when the
body or the deadline is exceeded. :func:`invoiceai.documents.fetch.fetch_url` and its async twin
only do what it says: resolve, send, read.

A fetch goes like this::

    state = FetchState(url, settings)
    while True:
        hop = state.next_hop()                 # may refuse: scheme, too many redirects
        addresses = resolve(*hop.lookup) if hop.lookup else None
        request = state.pin(hop, addresses)    # may refuse: a private address
        response = send(request, timeout=state.remaining(), credentials=hop.credentials)
        if state.follows(response.status_code, response.headers):
            continue                            # a redirect: the next hop is ready
        body = bytearray()
        for chunk in response:
            state.append(body, chunk)           # may refuse: too large, too late
        return state.document(body)
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from invoiceai.documents.model import Document, too_large
from invoiceai.documents.urls import (
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
from invoiceai.errors import FetchError, UnsafeURLError

if TYPE_CHECKING:
    import httpx2

    from invoiceai.config import Settings

__all__ = ["REDIRECT_STATUSES", "FetchState", "Hop", "parse_url", "timed_out"]

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
"""HTTP statuses whose ``Location`` is followed (as a new, checked hop)."""


@dataclasses.dataclass(frozen=True)
class Hop:
    """One request a fetch is about to make.

    Attributes:
        url: The URL to request (already past the scheme check).
        credentials: Whether the caller's client may authenticate this request: only to the
            origin first asked for, or its https upgrade.
        lookup: ``(host, port)`` to resolve before :meth:`FetchState.pin`, or ``None`` when
            no lookup is needed (an IP literal, or private URLs allowed).
    """

    url: httpx2.URL
    credentials: bool
    lookup: tuple[str, int] | None


class FetchState:
    """Where one fetch stands, and every rule it follows; it never touches the network.

    Args:
        url: The URL as given (messages show it without credentials or query).
        settings: Supplies ``fetch_timeout``, ``max_document_bytes``, ``max_fetch_redirects`` and
            ``allow_private_urls``.
        clock: Monotonic seconds; the deadline is ``clock() + fetch_timeout``. Tests inject one.

    Raises:
        UnsafeURLError: ``url`` is not a valid URL.
    """

    def __init__(self, url: str, settings: Settings, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self.settings = settings
        self._clock = clock
        self.deadline = clock() + settings.fetch_timeout
        self._original = self._current = parse_url(url)
        self._credentials = True
        self._hops = 0

    def next_hop(self) -> Hop:
        """Returns the next request to make: the URL as given, then each redirect target.

        Raises:
            FetchError: More than ``max_fetch_redirects`` redirects.
            UnsafeURLError: The URL's scheme is not http(s), or it has no host.
        """
        if self._hops > self.settings.max_fetch_redirects:
            raise FetchError(
                f"Could not fetch {display_url(self.url)}: more than {self.settings.max_fetch_redirects} redirects. "
                "Pass the final URL, or raise Settings.max_fetch_redirects (INVOICEAI_MAX_FETCH_REDIRECTS)."
            )
        self._hops += 1
        current = self._current
        check_scheme(current, self.url)
        # Once credentials have been withheld they stay withheld, even if a later hop returns
        # to the original origin: the hop in between could have chosen where it leads.
        self._credentials = self._credentials and keeps_credentials(self._original, current)
        lookup = None
        if not self.settings.allow_private_urls and ip_literal(current.host) is None:
            lookup = (current.host, current.port or default_port(current))
        return Hop(url=current, credentials=self._credentials, lookup=lookup)

    def pin(self, hop: Hop, addresses: Sequence[str] | None = None) -> PinnedRequest:
        """Binds ``hop`` to an address that passed the SSRF checks.

        Args:
            hop: The hop from :meth:`next_hop`.
            addresses: What ``hop.lookup`` resolved to; ignored when ``hop.lookup`` is ``None``.

        Returns:
            The request to send: unpinned when private URLs are allowed, else pinned to the
            first address (every one of them must be public).

        Raises:
            UnsafeURLError: An address is not public.
            FetchError: The host resolved to nothing.
            ValueError: ``hop`` needed a lookup and ``addresses`` is ``None`` (a caller's bug).
        """
        if self.settings.allow_private_urls:
            return PinnedRequest(url=hop.url, headers={}, extensions={})
        if hop.lookup is None:
            literal = ip_literal(hop.url.host)
            if literal is None:  # a hop made by hand, not by next_hop()
                raise ValueError(f"{hop.url.host} is not an IP address: resolve hop.lookup first")
            addresses = [literal]
        elif addresses is None:
            raise ValueError(f"{hop.url.host} must be resolved before the request is pinned")
        return pin_request(hop.url, addresses, original=self.url)

    def follows(self, status: int, headers: Mapping[str, str]) -> bool:
        """Reads an answer's status and headers: a redirect to follow, or a body to read.

        Args:
            status: The HTTP status code.
            headers: The response headers (case-insensitive, as httpx2 gives them).

        Returns:
            ``True`` for a redirect (the next :meth:`next_hop` goes to its target), ``False``
            when the body is the document and may be read.

        Raises:
            FetchError: An HTTP error status, a redirect without a usable ``Location``, or a
                content type that cannot be a document.
            DocumentTooLargeError: The declared ``Content-Length`` is above the cap.
        """
        if status in REDIRECT_STATUSES:
            self._current = redirect_target(self._current, headers.get("location"), original=self.url)
            return True
        if status >= 400 or status < 200:
            raise FetchError(
                f"Could not fetch {display_url(self.url)}: the server answered HTTP {status}. "
                "Check that the URL is right and publicly readable (signed links expire)."
            )
        check_content_type(headers.get("content-type"), original=self.url)
        declared = headers.get("content-length")
        if declared and declared.strip().isdigit() and int(declared) > self.settings.max_document_bytes:
            raise too_large(display_url(self.url), int(declared), self.settings.max_document_bytes)
        return False

    def append(self, body: bytearray, chunk: bytes) -> None:
        """Adds a chunk of the body, refusing it past the size cap or the deadline.

        Raises:
            DocumentTooLargeError: The body would exceed ``max_document_bytes``.
            FetchError: The fetch's deadline has passed.
        """
        if len(body) + len(chunk) > self.settings.max_document_bytes:
            raise too_large(display_url(self.url), None, self.settings.max_document_bytes)
        body += chunk
        self.remaining()

    def remaining(self) -> float:
        """Returns the seconds left before the deadline (a timeout for the next I/O step).

        Raises:
            FetchError: The deadline has passed.
        """
        left = self.deadline - self._clock()
        if left <= 0:
            raise timed_out(self.url, self.settings)
        return left

    def document(self, body: bytes | bytearray) -> Document:
        """Turns the body read after the last hop into a :class:`Document` named after its URL."""
        return Document.from_bytes(
            bytes(body), name=name_from_url(self._current), max_bytes=self.settings.max_document_bytes
        )


def parse_url(url: str) -> httpx2.URL:
    """Parses a URL given by the caller.

    Raises:
        UnsafeURLError: It is not a valid URL.
    """
    import httpx2

    try:
        return httpx2.URL(url)
    except Exception as exc:  # httpx2.InvalidURL, or TypeError/ValueError from odd input
        raise UnsafeURLError(f"Refused to fetch {display_url(url)}: it is not a valid URL ({exc}).") from exc


def default_port(url: httpx2.URL) -> int:
    """The port a URL without one connects to."""
    return 443 if url.scheme == "https" else 80


def timed_out(url: str, settings: Settings) -> FetchError:
    """The error of a fetch that passed its deadline (raised here, or mapped from a client timeout)."""
    return FetchError(
        f"Could not fetch {display_url(url)}: it took longer than {settings.fetch_timeout:g} s. "
        "Retry later, or raise Settings.fetch_timeout (INVOICEAI_FETCH_TIMEOUT)."
    )
