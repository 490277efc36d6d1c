"""Decisions about URL sources: which URLs, addresses and answers are acceptable (no I/O).

The SSRF guard works in two steps. Before each request (the first and every redirect hop) the
host is resolved and *every* address it resolves to must be public; then the request is sent to
one of those checked addresses, with the original host name kept for the ``Host`` header and TLS
(SNI and certificate checks). Pinning the address closes the DNS-rebinding gap where a second
lookup, made by the HTTP client, would answer differently from the one that was checked.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from invoiceai.errors import FetchError, UnsafeURLError

if TYPE_CHECKING:
    import httpx2

__all__ = [
    "PinnedRequest",
    "check_content_type",
    "check_scheme",
    "display_url",
    "ip_literal",
    "is_url",
    "keeps_credentials",
    "name_from_url",
    "pin_request",
    "redirect_target",
    "refusal_reason",
]

_URL_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_ALLOWED_SCHEMES = frozenset({"http", "https"})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Servers label downloads loosely; anything that could carry a PDF, an image or XML passes and
# the magic bytes decide. What is refused is what is certainly not the document (HTML, JSON).
_ACCEPTED_CONTENT_TYPES = frozenset(
    {
        "application/pdf",
        "application/x-pdf",
        "application/acrobat",
        "application/octet-stream",
        "binary/octet-stream",
        "application/binary",
        "application/download",
        "application/force-download",
        "application/x-download",
        "application/xml",
        "text/xml",
    }
)
ACCEPT_HEADER = "application/pdf, image/*, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"


def is_url(text: str) -> bool:
    """Tells whether a string source is a URL (``scheme://...``) rather than a file path."""
    return bool(_URL_PATTERN.match(text))


def check_scheme(url: httpx2.URL, original: str) -> None:
    """Refuses every scheme but http and https.

    Args:
        url: The parsed URL.
        original: The URL as given, for the message.

    Raises:
        UnsafeURLError: The scheme is not http or https (``file://``, ``ftp://``, ...), or the
            URL has no host or a port outside 1-65535.
    """
    if url.scheme not in _ALLOWED_SCHEMES:
        raise UnsafeURLError(
            f"Refused to fetch {display_url(original)}: only http and https URLs are fetched, not {url.scheme}://. "
            "Pass a local file as a path (str or pathlib.Path) instead."
        )
    if not url.host:
        raise UnsafeURLError(f"Refused to fetch {display_url(original)}: the URL has no host.")
    if url.port is not None and not 0 < url.port < 65536:
        raise UnsafeURLError(f"Refused to fetch {display_url(original)}: port {url.port} is out of range.")


def ip_literal(host: str) -> str | None:
    """Returns ``host`` if it is an IP address literal (checked without any lookup), else ``None``."""
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    return host.strip("[]")


def refusal_reason(address: str) -> str | None:
    """Says why an IP address must not be fetched from by default, or ``None`` if it is public.

    Embedded IPv4 addresses (IPv4-mapped, 6to4, Teredo, NAT64) are judged by the address they
    embed, so ``::ffff:127.0.0.1`` counts as loopback.

    Args:
        address: An IPv4 or IPv6 address, as text (a ``%zone`` suffix is ignored).

    Returns:
        A reason such as ``"loopback"``, or ``None`` when the address is globally routable.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            reason = refusal_reason(str(embedded))
            return None if reason is None else f"{reason} (embedded in {ip})"
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local (cloud metadata endpoints live here)", ip.is_link_local),
        ("multicast", ip.is_multicast),
        # fec0::/10: deprecated (RFC 3879), which Python does not count as private, but still
        # routed inside some networks.
        ("site-local", isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
    )
    for reason, applies in checks:
        if applies:
            return reason
    if not ip.is_global:
        return "not globally routable"
    return None


@dataclasses.dataclass(frozen=True)
class PinnedRequest:
    """A request bound to an address that passed the SSRF checks.

    Attributes:
        url: The URL to request (its host replaced by the checked address when pinned).
        headers: Extra headers (``Host`` when pinned).
        extensions: Transport extensions (``sni_hostname`` for pinned https).
    """

    url: httpx2.URL
    headers: dict[str, str]
    extensions: dict[str, object]


def pin_request(url: httpx2.URL, addresses: Sequence[str], *, original: str) -> PinnedRequest:
    """Checks every resolved address of ``url``'s host and pins the request to the first.

    Args:
        url: The URL about to be requested.
        addresses: Every address its host resolved to.
        original: The URL as given, for messages.

    Returns:
        The pinned request.

    Raises:
        UnsafeURLError: Any address is private, loopback, link-local, reserved or otherwise
            not public.
        FetchError: The host resolved to nothing.
    """
    if not addresses:
        raise FetchError(f"Could not fetch {display_url(original)}: {url.host} did not resolve to any address.")
    for address in addresses:
        reason = refusal_reason(address)
        if reason is not None:
            raise UnsafeURLError(
                f"Refused to fetch {display_url(original)}: {url.host} resolves to {address}, which is {reason}. "
                "Fetching internal addresses is off by default to protect services that take user-supplied "
                "URLs; set Settings(allow_private_urls=True) (INVOICEAI_ALLOW_PRIVATE_URLS=1) only if the URL "
                "is trusted."
            )
    headers = {"Host": url.netloc.decode("ascii")}
    extensions: dict[str, object] = {}
    if url.scheme == "https":
        extensions["sni_hostname"] = url.host
    return PinnedRequest(url=url.copy_with(host=addresses[0]), headers=headers, extensions=extensions)


def keeps_credentials(original: httpx2.URL, target: httpx2.URL) -> bool:
    """Tells whether a redirect hop to ``target`` may carry the caller's credentials.

    The caller's client may authenticate (``auth=`` or a default ``Authorization`` header) to
    the origin of the URL it asked for. As httpx2 does when it follows redirects itself, those
    credentials go to that origin only, or to its plain upgrade from http to https.

    Args:
        original: The URL as first requested.
        target: The URL a redirect points to.

    Returns:
        ``True`` when ``target`` is the original's origin (or its https upgrade).
    """
    origin, other = original.origin, target.origin
    if origin == other:
        return True
    return (
        origin.host == other.host
        and (origin.scheme, origin.port) == ("http", 80)
        and (other.scheme, other.port) == ("https", 443)
    )


def redirect_target(current: httpx2.URL, location: str | None, *, original: str) -> httpx2.URL:
    """Returns the absolute URL a redirect points to.

    Args:
        current: The URL that answered with the redirect.
        location: Its ``Location`` header.
        original: The URL as given, for messages.

    Returns:
        The next URL to request (not yet checked: the caller checks it like the first).

    Raises:
        FetchError: The redirect has no usable ``Location``.
    """
    if not location:
        raise FetchError(f"Could not fetch {display_url(original)}: a redirect came without a Location header.")
    try:
        return current.join(location)
    except Exception as exc:  # httpx2.InvalidURL and friends; the URL text is the user's
        raise FetchError(f"Could not fetch {display_url(original)}: the redirect target is not a valid URL.") from exc


def check_content_type(value: str | None, *, original: str) -> None:
    """Refuses answers whose ``Content-Type`` cannot be a document (HTML pages, JSON).

    Args:
        value: The header value, or ``None`` when absent (absent is accepted).
        original: The URL as given, for messages.

    Raises:
        FetchError: The content type is not a PDF, an image, XML or generic binary.
    """
    if not value:
        return
    media_type = value.split(";", 1)[0].strip().lower()
    if (
        media_type in _ACCEPTED_CONTENT_TYPES
        or media_type.startswith("image/")
        or media_type.endswith("+xml")
        or not media_type
    ):
        return
    raise FetchError(
        f"Could not fetch {display_url(original)}: the server answered with Content-Type {media_type}, not a PDF, "
        "an image or XML. Is the URL a web page (a viewer or a login page) rather than the file itself?"
    )


def display_url(url: str) -> str:
    """Shortens a URL for messages: no credentials, no query string (it may hold signed tokens)."""
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.\-]*://)(?:[^@/?#]*@)?([^?#]*)", url)
    if not match:
        return "<url>"
    shown = match.group(1) + match.group(2)
    return shown if len(shown) <= 200 else shown[:197] + "..."


def name_from_url(url: httpx2.URL) -> str:
    """Returns a display name for a fetched document: the last path segment, else the host."""
    segment = url.path.rstrip("/").rsplit("/", 1)[-1]
    return segment or url.host or "<url>"
