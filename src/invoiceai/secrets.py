"""Masking secrets before they reach a repr, a message, a log record or a traceback.

One masking function, :func:`mask_text`, is used for everything invoiceai shows:

- :func:`mask_text` replaces secrets in free text: every secret given to it, every secret the
  library was configured with (:func:`register_secret`; the Claude backend registers its API key,
  also the one inside an injected client, the Redis cache its password, and ``ANTHROPIC_API_KEY``
  always counts), in every encoding a message may carry them (raw, percent-encoded, JSON- or
  ``repr``-escaped) and without a key prefix such as ``sk-ant-api03-``; and anything shaped like a
  credential: an Anthropic key, an ``x-api-key`` or ``Authorization`` value, the password of a URL.
- :func:`mask_url` shows one URL with its passwords replaced by ``***``.
- :func:`scrub_exception` makes an exception safe to print with its whole ``__cause__`` /
  ``__context__`` chain: members whose text holds a secret are replaced by masked copies.
- :func:`get_logger` returns a logger whose records are masked (:class:`MaskingFilter`).

It imports nothing of ours, so every module may use it (:mod:`invoiceai.errors` does, lazily).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import threading
import traceback
import weakref
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

__all__ = [
    "MASK",
    "MIN_REGISTERED_LENGTH",
    "MaskedException",
    "MaskingFilter",
    "get_logger",
    "mask_text",
    "mask_url",
    "register_secret",
    "scrub_exception",
    "url_secrets",
]

MASK = "***"
"""What a secret is replaced by."""

MIN_REGISTERED_LENGTH = 6
"""Registered secrets shorter than this are not masked from all text (they would mask ordinary words).

They are still masked where given to :func:`mask_text` explicitly, and as URL passwords.
"""

_ENVIRONMENT_SECRETS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")
_MIN_PART_LENGTH = 8
_PREFIX_REACH = 32
_SEPARATORS = "-_.:"
_MAX_CHAIN = 100

# "scheme://user:password@" anywhere in free text; the password stops at whitespace, quotes or
# the last "@" before the host (a password may itself contain "@" when not percent-encoded).
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s:/@\"'<>]*):([^\s\"'<>]*)@")
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


def mask_text(text: str, secrets: Iterable[str | None] = (), *, patterns: bool = True) -> str:
    """Masks secrets in free text: the one masking function of invoiceai.

    Masked, in this order:

    1. Each secret in ``secrets`` and each registered one (:func:`register_secret`,
       ``ANTHROPIC_API_KEY``), wherever it appears: raw, percent-encoded (any case, ``+`` for a
       space), JSON- or ``repr``-escaped (letters, digits and ``-._~``, which no encoder
       escapes, only as themselves); and its tail after each ``-``, ``_``, ``.`` or ``:`` of
       its first 32 characters when that tail has at least 8 characters, so a key echoed without
       its ``sk-ant-api03-`` prefix is masked too.
    2. With ``patterns``: anything shaped like an Anthropic key (``sk-ant-...``), the value of an
       ``x-api-key`` or ``Authorization`` header, the password of a URL (``scheme://user:pw@``)
       and a ``password=`` / ``pass=`` / ``pwd=`` query value.

    Args:
        text: A message that may contain secrets (a dependency's error text, say).
        secrets: Literal secrets to mask, of any length; ``None`` and empty ones are skipped.
        patterns: Also mask credential-shaped text (step 2). Off for stored data, where only
            the known secrets are removed.

    Returns:
        The text with each secret replaced by ``***``.

    Example:
        >>> mask_text("401: invalid key SuperSecretValue0123", ["sk-ant-api03-SuperSecretValue0123"])
        '401: invalid key ***'
    """
    literals = _known_secrets()
    literals.update(secret for secret in secrets if secret)
    literals.discard(MASK)
    if literals:
        pattern = _literal_pattern(tuple(sorted(literals)))
        if pattern is not None:
            text = pattern.sub(MASK, text)
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


# -- exceptions ---------------------------------------------------------------------------------


class MaskedException(Exception):  # named for what it stands in for any exception, not only errors
    """Stands in, on a ``__cause__`` / ``__context__`` chain, for an exception whose text held a secret.

    Used when a masked copy of the original's own class cannot be made.

    Args:
        type_name: The original's qualified class name (``anthropic.AuthenticationError``).
        message: The original's text, masked.
    """

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(f"{type_name}: {message}" if message else type_name)
        self.type_name = type_name


def scrub_exception(error: BaseException, secrets: Iterable[str | None] = ()) -> BaseException:
    """Makes ``error`` and its whole ``__cause__`` / ``__context__`` chain safe to print.

    Every member of the chain whose ``str`` or ``repr`` would show a secret (see
    :func:`mask_text`), or which chains to such a member, is replaced by a copy of its own class
    with its text masked (its traceback kept), or by a :class:`MaskedException` when no such copy
    can be made. Members that hold no secret stay as they are, so ``error.__cause__`` is usually
    the dependency's own exception. ``error`` itself is changed in place: its chain links, and
    its ``args`` when they held a secret. Call it before the error leaves the library; afterwards
    ``traceback.format_exception(error)`` holds no secret.

    Args:
        error: The exception about to be raised (or re-raised).
        secrets: Literal secrets to mask besides the registered ones.

    Returns:
        ``error``.
    """
    known = tuple(secret for secret in secrets if secret)
    memo: dict[int, BaseException] = {id(error): error}
    _relink(error, error, known, memo)
    if not _shows_nothing(error, known):
        try:
            error.args = tuple(_masked_value(arg, known) for arg in error.args)
            vars(error).update({name: _masked_value(value, known) for name, value in vars(error).items()})
        except (AttributeError, TypeError):  # pragma: no cover - an exception type without a __dict__
            pass
    return error


def _safe(exc: BaseException, secrets: tuple[str, ...], memo: dict[int, BaseException]) -> BaseException:
    # ``exc`` itself when it and its chain show nothing secret, otherwise a masked copy.
    if id(exc) in memo:
        return memo[id(exc)]
    if len(memo) > _MAX_CHAIN:
        # Bounded recursion: a chain this long is cut, showing only the type of what was dropped.
        return MaskedException(f"{type(exc).__module__}.{type(exc).__qualname__}", "(rest of the chain dropped)")
    memo[id(exc)] = exc  # a chain that loops back ends here
    cause, context = exc.__cause__, exc.__context__
    safe_cause = None if cause is None else _safe(cause, secrets, memo)
    safe_context = None if context is None else _safe(context, secrets, memo)
    if _shows_nothing(exc, secrets) and safe_cause is cause and safe_context is context:
        return exc
    copy = _masked_copy(exc, secrets)
    memo[id(exc)] = copy
    _relink(copy, exc, secrets, memo)
    return copy


def _relink(target: BaseException, source: BaseException, secrets: tuple[str, ...], memo: dict[int, Any]) -> None:
    # Points ``target`` at safe versions of ``source``'s cause and context.
    suppress = source.__suppress_context__
    cause, context = source.__cause__, source.__context__
    safe_context = None if context is None else _safe(context, secrets, memo)
    if context is not None and safe_context is not context:
        target.__context__ = safe_context
    elif target is not source:
        target.__context__ = context
    safe_cause = None if cause is None else _safe(cause, secrets, memo)
    if safe_cause is not cause or target is not source:
        target.__cause__ = safe_cause  # this also sets __suppress_context__: restored below
    target.__suppress_context__ = suppress


def _shows_nothing(exc: BaseException, secrets: tuple[str, ...]) -> bool:
    try:
        texts = [str(exc), repr(exc), *(str(note) for note in getattr(exc, "__notes__", ()))]
    except Exception:  # an exception whose str() fails cannot be checked
        return False
    return all(mask_text(text, secrets) == text for text in texts)


def _masked_copy(exc: BaseException, secrets: tuple[str, ...]) -> BaseException:
    cls = type(exc)
    try:
        copy = cls.__new__(cls)
        copy.args = tuple(_masked_value(arg, secrets) for arg in exc.args)
        vars(copy).update({name: _masked_value(value, secrets) for name, value in vars(exc).items()})
        if not _shows_nothing(copy, secrets):
            raise ValueError("the copy still shows a secret")
    except Exception:  # any type that cannot be copied this way gets a stand-in
        try:
            text = mask_text(str(exc), secrets)
        except Exception:
            text = ""
        copy = MaskedException(f"{cls.__module__}.{cls.__qualname__}", text)
    copy.__traceback__ = exc.__traceback__
    return copy


def _masked_value(value: Any, secrets: tuple[str, ...], depth: int = 0) -> Any:
    # Strings masked, containers walked (an SDK error keeps the response body as a dict).
    if isinstance(value, str):
        return mask_text(value, secrets)
    if isinstance(value, bytes):
        text = value.decode("utf-8", "replace")
        masked = mask_text(text, secrets)
        return value if masked == text else masked.encode("utf-8")
    if depth > 20:
        return value
    if isinstance(value, dict):
        return {key: _masked_value(item, secrets, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_masked_value(item, secrets, depth + 1) for item in value)
    return value


# -- logging ------------------------------------------------------------------------------------


class MaskingFilter(logging.Filter):
    """Masks every record of the logger it is attached to: message, arguments, traceback and stack.

    A record whose text holds no secret is left as it is (its ``msg`` template and ``args``
    intact); one that does gets the masked text as ``msg``, no ``args``, and its traceback
    pre-formatted and masked in ``exc_text`` (``exc_info`` cleared, so no handler formats the
    original again).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Masks ``record`` in place; never drops it."""
        try:
            message = record.getMessage()
        except Exception:  # a broken format is the handler's to report
            message = str(record.msg)
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, ()
        if record.exc_info and record.exc_info[1] is not None:
            text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            masked = mask_text(text)
            if masked != text:
                record.exc_info, record.exc_text = None, masked
        elif record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True


_FILTER = MaskingFilter()


def get_logger(name: str) -> logging.Logger:
    """Returns ``logging.getLogger(name)`` with a :class:`MaskingFilter` attached (once).

    Every logger of invoiceai comes from here. A filter on a logger applies to the records
    logged through that very logger (not its children), so each name is protected on its own.

    Args:
        name: The logger's name (``invoiceai.backends``; also a dependency's, such as
            ``anthropic._base_client``, whose debug records may quote what a server sent).
    """
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger
