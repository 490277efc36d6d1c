"""Masking secrets before they reach a repr, a message or a log record.

One small API, used wherever text that may hold a secret is shown:

- :func:`mask_url` shows a URL with every password replaced by ``***``: the one in the user
  info (``redis://:pw@host``, ``rediss://user:pw@host``) and any ``password=`` query value.
- :func:`mask_text` removes given literal secrets, and URL passwords, from free text (an error
  message of a dependency, say).

It imports nothing of ours but :mod:`invoiceai.errors`, so every layer may use it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

__all__ = ["MASK", "mask_text", "mask_url", "url_secrets"]

MASK = "***"
"""What a secret is replaced by."""

# "scheme://user:password@" anywhere in free text; the password stops at whitespace, quotes or
# the last "@" before the host (a password may itself contain "@" when not percent-encoded).
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s:/@\"'<>]*):([^\s\"'<>]*)@")
_QUERY_PASSWORD = re.compile(r"(?i)([?&](?:password|pass|pwd)=)[^&#\s\"'<>]*")
_QUERY_NAMES = frozenset({"password", "pass", "pwd"})


def mask_url(url: str) -> str:
    """Returns ``url`` with every password in it replaced by ``***``.

    The user name stays (it says which account is used); the password in the user info and the
    value of every ``password=`` (``pass=``, ``pwd=``) query parameter go. A URL too malformed to
    take apart is shown as ``<unparseable URL>``, since it may still hold a password.

    Args:
        url: Any URL (``redis://:pw@host:6379/0``, ``https://user:pw@host/path``, ...).

    Returns:
        The URL, safe to show and log.

    Example:
        >>> mask_url("redis://:s3cret@cache.internal:6379/0")
        'redis://:***@cache.internal:6379/0'
    """
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, hostport = netloc.rpartition("@")
            user, has_password, _ = userinfo.partition(":")
            netloc = f"{user}:{MASK}@{hostport}" if has_password else f"{user}@{hostport}"
        query = urlencode(
            [(name, MASK if name.lower() in _QUERY_NAMES else value) for name, value in parse_qsl(parts.query)],
            safe="*",
        )
        # Built by hand: urlunsplit() turns "unix:///path" into "unix:/path".
        shown = f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")
    except ValueError:
        return "<unparseable URL>"
    raw = _raw_password(url)
    if raw and raw != parts.password:
        # A password holding an unencoded "/", "?" or "#" makes urlsplit() end the user info
        # early, leaving the rest of it in the path or query: take the widest reading instead,
        # everything up to the last "@" (at worst this hides a path or query that held an "@").
        scheme, _, rest = url.partition("://")
        user = rest.partition(":")[0]
        shown = mask_text(f"{scheme}://{user}:{MASK}@{rest[rest.rfind('@') + 1 :]}")
    return shown


def url_secrets(url: str) -> list[str]:
    """Returns every text in ``url`` that is, or may be, a password (for :func:`mask_text`).

    Besides the password as parsed, this includes everything between the first ``:`` after the
    scheme's ``//`` and the last ``@`` when the URL is ambiguous, so a password with unencoded
    delimiters is still found. Percent-decoded forms are included.

    Args:
        url: Any URL.

    Returns:
        The candidate secrets, longest first (so a longer one is masked before its parts).
    """
    found: set[str] = set()
    try:
        parts = urlsplit(url)
        if parts.password:
            found.add(parts.password)
        found.update(value for name, value in parse_qsl(parts.query) if name.lower() in _QUERY_NAMES and value)
    except ValueError:
        pass
    raw = _raw_password(url)
    if raw:
        found.add(raw)
    found |= {unquote(secret) for secret in found} | {quote(secret, safe="") for secret in found}
    return sorted((secret for secret in found if secret), key=len, reverse=True)


def mask_text(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Masks the given secrets, and any password written in a URL, in free text.

    Args:
        text: A message that may contain secrets (a dependency's error text, say).
        secrets: Literal secrets to replace wherever they appear; ``None`` and empty ones are
            skipped. Their percent-encoded and decoded forms are replaced too.

    Returns:
        The text with each secret replaced by ``***``.
    """
    literals: set[str] = set()
    for secret in secrets:
        if secret:
            literals |= {secret, unquote(secret), quote(secret, safe="")}
    for literal in sorted(literals, key=len, reverse=True):
        if literal and literal != MASK:
            text = text.replace(literal, MASK)
    text = _URL_PASSWORD.sub(lambda match: f"{match.group(1)}:{MASK}@", text)
    return _QUERY_PASSWORD.sub(lambda match: f"{match.group(1)}{MASK}", text)


def _raw_password(url: str) -> str | None:
    # Everything between the first ":" after "scheme://" and the last "@": the widest reading.
    _, separator, rest = url.partition("://")
    if not separator or "@" not in rest:
        return None
    _, colon, password = rest[: rest.rfind("@")].partition(":")
    return password if colon and password else None
