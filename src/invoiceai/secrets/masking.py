"""The masking function and the secrets it knows: :func:`mask_text`, :func:`register_secret`, URLs."""

from __future__ import annotations

import functools
import os
import re
import threading
import weakref
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

__all__ = ["MASK", "MIN_REGISTERED_LENGTH", "mask_text", "mask_url", "register_secret", "url_secrets"]

MASK = "***"
"""What a secret is replaced by."""

MIN_REGISTERED_LENGTH = 6
"""Registered secrets shorter than this are not masked from all text (they would mask ordinary words).

They are still masked where given to :func:`mask_text` explicitly, and as URL passwords.
"""

_ENVIRONMENT_SECRETS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")
_MIN_PART_LENGTH = 8
_PREFIX_REACH = 16  # "sk-ant-admin01-" is 15 characters
_SEPARATORS = "-_.:"
_MAX_PASSES = 8

# "scheme://user:password@" anywhere in free text; the password stops at whitespace, quotes or
# the last "@" before the host (a password may itself contain "@" when not percent-encoded).
# Bounded groups: unbounded ones rescanned the rest of the text from every "scheme://x:" start
# (100 KB of "a://:" took 6.7 s); no user name or password is longer than these.
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]{0,30}://[^\s:/@\"'<>]{0,256}):([^\s\"'<>]{0,1024})@")
_QUERY_PASSWORD = re.compile(r"(?i)([?&](?:password|pass|pwd)=)[^&#\s\"'<>]*")
_QUERY_NAMES = frozenset({"password", "pass", "pwd"})
# Anthropic keys look like "sk-ant-api03-...", admin keys "sk-ant-admin01-...". Anything shaped
# like a bearer secret is masked too, since users may put keys in custom headers.
_ANTHROPIC_KEY = re.compile(r"sk-ant-[A-Za-z0-9_\-]{4,}")
_AUTH_HEADER = re.compile(r"(?i)(x-api-key|authorization)([\"']?\s*[:=]\s*[\"']?)((?:bearer\s+)?[^\s\"',}]+)")
_NAMED_ESCAPES = {"\n": "n", "\r": "r", "\t": "t", "\b": "b", "\f": "f"}

_registry_lock = threading.Lock()
_registered: dict[str, int] = {}


def register_secret(secret: str | None, *, owner: object | None = None) -> None:
    """Makes :func:`mask_text` (so every message, repr and log record of invoiceai) mask ``secret``.

    Args:
        secret: A credential the library was given (an API key, a password). ``None``, empty
            ones and those shorter than :data:`MIN_REGISTERED_LENGTH` are ignored.
        owner: The object holding the secret; once it is garbage-collected the secret is
            forgotten (so a service creating a backend per tenant key does not grow the list
            forever). Without an owner the secret is masked for the life of the process.
    """
    if not secret or len(secret) < MIN_REGISTERED_LENGTH:
        return
    with _registry_lock:
        _registered[secret] = _registered.get(secret, 0) + 1
    if owner is not None:
        weakref.finalize(owner, _release, secret)


def _release(secret: str) -> None:
    with _registry_lock:
        count = _registered.get(secret, 0) - 1
        if count > 0:
            _registered[secret] = count
        else:
            _registered.pop(secret, None)


def _known_secrets() -> set[str]:
    with _registry_lock:
        known = set(_registered)
    for name in _ENVIRONMENT_SECRETS:
        value = os.environ.get(name)
        if value and len(value) >= MIN_REGISTERED_LENGTH:
            known.add(value)
    return known


def mask_text(text: str, secrets: Iterable[str | None] = (), *, patterns: bool = True, min_length: int = 0) -> str:
    """Masks secrets in free text: the one masking function of invoiceai.

    Masked, in this order:

    1. Each secret in ``secrets`` and each registered one (:func:`register_secret`,
       ``ANTHROPIC_API_KEY``), wherever it appears: raw, percent-encoded (any case, ``+`` for a
       space), JSON- or ``repr``-escaped (letters, digits and ``-._~``, which no encoder
       escapes, only as themselves); and its tail after each ``-``, ``_``, ``.`` or ``:`` of
       its first 16 characters when that tail has at least 8 characters, so a key echoed without
       its ``sk-ant-api03-`` prefix is masked too.
    2. With ``patterns``: anything shaped like an Anthropic key (``sk-ant-...``), the value of an
       ``x-api-key`` or ``Authorization`` header, the password of a URL (``scheme://user:pw@``)
       and a ``password=`` / ``pass=`` / ``pwd=`` query value.

    Args:
        text: A message that may contain secrets (a dependency's error text, say).
        secrets: Literal secrets to mask, of any length; ``None`` and empty ones are skipped.
        patterns: Also mask credential-shaped text (step 2). Off for stored data, where only
            the known secrets are removed.
        min_length: Leave secrets shorter than this alone (with their tails). For stored data,
            where a short password could also be ordinary text that must not be lost.

    Returns:
        The text with each secret replaced by ``***``.

    Example:
        >>> mask_text("401: invalid key SuperSecretValue0123", ["sk-ant-api03-SuperSecretValue0123"])
        '401: invalid key ***'
    """
    literals = _known_secrets()
    literals.update(secret for secret in secrets if secret)
    # "**" would mask the mask itself.
    literals = {literal for literal in literals if literal.strip("*") and len(literal) >= min_length}
    pattern = _literal_pattern(tuple(sorted(literals))) if literals else None
    if pattern is not None:
        # Again until nothing is left: masking can join the text around a secret into a new
        # copy ("ab" + "ab***cd" + "cd" for the secret "ab***cd").
        for _ in range(_MAX_PASSES):
            text, count = pattern.subn(MASK, text)
            if not count:
                break
    if not patterns:
        return text
    text = _ANTHROPIC_KEY.sub(f"sk-ant-{MASK}", text)
    text = _AUTH_HEADER.sub(lambda match: f"{match.group(1)}{match.group(2)}{MASK}", text)
    text = _URL_PASSWORD.sub(lambda match: f"{match.group(1)}:{MASK}@", text)
    return _QUERY_PASSWORD.sub(lambda match: f"{match.group(1)}{MASK}", text)


@functools.lru_cache(maxsize=64)
def _literal_pattern(secrets: tuple[str, ...]) -> re.Pattern[str] | None:
    # One alternation, longest form first, so a secret is masked whole before any of its tails.
    forms = {form for secret in secrets for form in _forms(secret)}
    if not forms:
        return None
    ordered = sorted(forms, key=lambda form: (-len(form), form))
    return re.compile("|".join(_encoded(form) for form in ordered))


def _forms(secret: str) -> list[str]:
    # The secret, and its tails after a separator near the start (a key without its prefix).
    forms = [secret]
    for index, char in enumerate(secret[:_PREFIX_REACH]):
        tail = secret[index + 1 :]
        if char in _SEPARATORS and len(tail) >= _MIN_PART_LENGTH:
            forms.append(tail)
    return forms


def _encoded(form: str) -> str:
    # A regex matching ``form`` with each character raw, percent-encoded or escaped.
    return "".join(_char_pattern(char) for char in form)


@functools.lru_cache(maxsize=1024)
def _char_pattern(char: str) -> str:
    if char.isascii() and (char.isalnum() or char in "-._~"):
        return re.escape(char)  # no encoder escapes these: matching them raw keeps the scan fast
    code = ord(char)
    alternatives = [re.escape(char)]
    utf8 = char.encode("utf-8", "surrogatepass")
    alternatives.append("".join(f"%{_hex(byte, 2)}" for byte in utf8))
    if char == " ":
        alternatives.append(r"\+")
    # Escapes, behind any number of backslashes (a repr of a JSON text doubles them).
    escapes = [f"u{_hex(code, 4)}"] if code < 0x10000 else [f"U{_hex(code, 8)}", _surrogates(code)]
    if code < 0x100:
        escapes.append(f"x{_hex(code, 2)}")
    if char in _NAMED_ESCAPES:
        escapes.append(_NAMED_ESCAPES[char])
    if char in "\"'\\/":
        escapes.append(re.escape(char))
    alternatives += [rf"\\+{escape}" for escape in escapes]
    return "(?:" + "|".join(alternatives) + ")"


def _hex(value: int, width: int) -> str:
    # Hex digits that match either case.
    return "".join(f"[{digit}{digit.upper()}]" if digit.isalpha() else digit for digit in f"{value:0{width}x}")


def _surrogates(code: int) -> str:
    high = 0xD800 + ((code - 0x10000) >> 10)
    low = 0xDC00 + ((code - 0x10000) & 0x3FF)
    return f"u{_hex(high, 4)}\\\\+u{_hex(low, 4)}"


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


def _raw_password(url: str) -> str | None:
    # Everything between the first ":" after "scheme://" and the last "@": the widest reading.
    _, separator, rest = url.partition("://")
    if not separator or "@" not in rest:
        return None
    _, colon, password = rest[: rest.rfind("@")].partition(":")
    return password if colon and password else None
