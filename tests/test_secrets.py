"""invoiceai.secrets: one masking function for messages, reprs, log records and exception chains."""

from __future__ import annotations

import ast
import gc
import json
import logging
import re
import socket
import traceback
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from invoiceai import errors
from invoiceai.secrets import (
    MASK,
    MaskedException,
    get_logger,
    mask_text,
    mask_url,
    register_secret,
    scrub_exception,
)

SOURCE = Path(__file__).resolve().parent.parent / "src" / "invoiceai"
KEY = "sk-ant-api03-CanaryKey0123456789abcdefghijKLMNOP"
TAIL = KEY.removeprefix("sk-ant-api03-")
PLAIN = "plain-canary-secret-without-a-prefix-77"

# -- the masking function ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        f"invalid x-api-key {KEY}",
        f"key ending {TAIL}",  # echoed without its sk-ant-api03- prefix
        f"url https://proxy/?k={quote(KEY)}",
        json.dumps({"error": {"message": f"bad {KEY}"}}),
        repr(json.dumps({"message": TAIL})),
    ],
)
def test_an_explicit_key_is_masked_in_every_shape(text: str) -> None:
    masked = mask_text(text, [KEY])
    assert KEY not in masked and TAIL not in masked and MASK in masked


def test_a_key_that_does_not_look_like_one_is_masked_with_and_without_its_first_part() -> None:
    tail = PLAIN.partition("-")[2]
    for text in (f"bad key {PLAIN}", f"bad key {tail}", f"Bearer%20{quote(PLAIN)}"):
        assert PLAIN not in mask_text(text, [PLAIN]) and tail not in mask_text(text, [PLAIN])
    assert mask_text("nothing here", [PLAIN]) == "nothing here"


def test_registered_secrets_are_masked_everywhere_until_their_owner_goes() -> None:
    class Owner:
        pass

    owner = Owner()
    secret = "Registered-Canary-Password-991"
    register_secret(secret, owner=owner)
    assert secret not in mask_text(f"failed: {secret}")
    assert secret not in errors.redact(f"failed: {quote(secret)}")
    assert secret not in str(errors.CacheError(f"could not connect with {secret}"))
    del owner
    gc.collect()
    assert mask_text(f"failed: {secret}") == f"failed: {secret}"


def test_short_registered_secrets_are_not_masked_from_ordinary_words() -> None:
    class Owner:
        pass

    owner = Owner()
    register_secret("pw", owner=owner)
    assert mask_text("pwned password") == "pwned password"
    assert mask_text("pwned", ["pw"]) == f"{MASK}ned"  # an explicit secret is masked whatever its length
    assert mask_text("redis://:pw@host:6379/0") == f"redis://:{MASK}@host:6379/0"


def test_the_cache_masks_long_secrets_but_keeps_short_passwords_that_are_also_invoice_words() -> None:
    from invoiceai.cache import MemoryCache

    class Owner:
        pass

    owner = Owner()
    register_secret("invoice1", owner=owner)  # a (weak) Redis password that an invoice may also print
    register_secret(KEY, owner=owner)
    cache = MemoryCache()
    cache.set("k", json.dumps({"description": "invoice1 of 3", "note": f"echoed {KEY}"}))
    stored = cache.get("k")
    assert stored is not None
    assert "invoice1 of 3" in stored  # the data served from the cache is the data extracted
    assert KEY not in stored
    assert TAIL not in stored
    del owner
    gc.collect()


def test_patterns_mask_key_shaped_text_and_url_passwords() -> None:
    text = "sk-ant-admin01-abcdefgh x-api-key: zzz Authorization: Bearer abc.def rediss://u:s3cr3t@h/0 ?password=p1"
    masked = mask_text(text)
    for secret in ("abcdefgh", "zzz", "abc.def", "s3cr3t", "p1"):
        assert secret not in masked
    assert mask_text(text, patterns=False) == text


_SECRETS = st.text(st.characters(blacklist_categories=("Cs",)), min_size=8, max_size=40)
_AROUND = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
_ENCODINGS = {
    "raw": lambda s: s,
    "percent": lambda s: quote(s, safe=""),
    "percent-keeping-slashes": quote,
    "percent-lower-hex": lambda s: re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), quote(s, safe="")),
    "form": quote_plus,
    "json": lambda s: json.dumps(s)[1:-1],
    "json-ascii": lambda s: json.dumps(s, ensure_ascii=True)[1:-1],
    "repr": lambda s: repr(s)[1:-1],
    "repr-of-json": lambda s: repr(json.dumps(s)),
    "url-password": lambda s: f"redis://user:{quote(s, safe='')}@cache.internal:6379/0",
    "url-query": lambda s: f"https://h.example/x?token={quote(s, safe='')}&b=1",
}


@given(secret=_SECRETS, before=_AROUND, after=_AROUND, encoding=st.sampled_from(sorted(_ENCODINGS)))
def test_property_no_encoding_of_a_secret_survives(secret: str, before: str, after: str, encoding: str) -> None:
    assume(secret.strip("*"))
    encoded = _ENCODINGS[encoding](secret)
    masked = mask_text(before + encoded + after, [secret])
    assert secret not in masked and encoded not in masked
    assert quote(secret, safe="") not in masked


# Text that cannot hold an encoded form (no "%", "+", "\\") nor a credential shape (no ":", "@", "=").
_PLAIN_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="%+\\:@=*"),
    max_size=80,
)


@given(secret=_SECRETS, text=_PLAIN_TEXT)
def test_property_text_without_the_secret_is_unchanged(secret: str, text: str) -> None:
    assume(secret[-8:] not in text and "sk-ant-" not in text)
    assert mask_text(text, [secret]) == text


def test_mask_url_keeps_the_user_and_host() -> None:
    assert mask_url("rediss://app:s3cretPW@cache:6380/1") == f"rediss://app:{MASK}@cache:6380/1"


# -- exception chains ---------------------------------------------------------------------------


class _Leaky(Exception):
    """A dependency's exception that quotes the key, with extra state (like the SDK's body)."""

    def __init__(self, message: str, *, body: dict[str, Any]) -> None:
        super().__init__(message)
        self.body = body


def _chain_texts(error: BaseException) -> list[str]:
    texts = ["".join(traceback.format_exception(error))]
    seen: set[int] = set()
    stack: list[BaseException | None] = [error]
    while stack:
        member = stack.pop()
        if member is None or id(member) in seen:
            continue
        seen.add(id(member))
        texts += [str(member), repr(member), repr(vars(member))]
        stack += [member.__cause__, member.__context__]
    return texts


def _raise_chain(key: str) -> errors.BackendError:
    try:
        try:
            raise _Leaky(f"401 invalid x-api-key {key}", body={"error": {"message": f"key {key}"}})
        except _Leaky as inner:
            raise KeyError(f"while handling, the key was {key}") from inner
    except KeyError as exc:
        try:
            raise errors.AuthenticationError("The Claude API rejected the credentials.") from exc
        except errors.AuthenticationError as error:
            return error


@pytest.mark.parametrize("key", [KEY, PLAIN])
def test_a_scrubbed_chain_shows_the_key_nowhere(key: str) -> None:
    error = _raise_chain(key)
    assert any(key in text for text in _chain_texts(error)), "the scenario must hold the key before scrubbing"
    scrub_exception(error, [key])
    for text in _chain_texts(error):
        assert key not in text
    # The copies keep their class and their traceback, so the report still says what happened.
    cause = error.__cause__
    assert type(cause) is KeyError and cause.__traceback__ is not None
    assert type(cause.__cause__) is _Leaky and cause.__cause__.body == {"error": {"message": f"key {MASK}"}}
    assert error.__suppress_context__


def test_a_clean_chain_is_left_as_it_is() -> None:
    cause = ValueError("pdfium: data format error")
    with pytest.raises(errors.CorruptDocumentError) as caught:
        raise errors.CorruptDocumentError("damaged") from cause
    scrub_exception(caught.value, [KEY])
    assert caught.value.__cause__ is cause


def test_a_context_holding_the_key_is_replaced_not_only_hidden() -> None:
    # ``raise ... from None`` hides __context__ from tracebacks but still keeps it.
    def fail() -> None:
        try:
            raise RuntimeError(f"echo {KEY}")
        except RuntimeError:
            raise errors.BackendError("failed") from None

    with pytest.raises(errors.BackendError) as caught:
        fail()
    error = caught.value
    assert KEY in str(error.__context__)
    scrub_exception(error, [KEY])
    assert KEY not in str(error.__context__) and error.__suppress_context__


def test_an_exception_that_cannot_be_copied_becomes_a_stand_in() -> None:
    class Stubborn(Exception):
        def __new__(cls, *args: Any, **kwargs: Any) -> Stubborn:
            if not args:
                raise TypeError("needs a message")
            return super().__new__(cls, *args)

        def __str__(self) -> str:
            return f"stubborn {self.args[0]}"

    error = errors.BackendError("failed")
    error.__cause__ = Stubborn(f"key {KEY}")
    scrub_exception(error, [KEY])
    assert isinstance(error.__cause__, MaskedException)
    assert KEY not in "".join(traceback.format_exception(error)) and "Stubborn" in str(error.__cause__)


def test_a_looping_chain_ends() -> None:
    first, second = ValueError(f"a {KEY}"), ValueError("b")
    first.__context__, second.__context__ = second, first
    error = errors.BackendError("failed")
    error.__cause__ = first
    scrub_exception(error, [KEY])
    assert KEY not in "".join(traceback.format_exception(error))


def test_the_error_itself_is_masked_when_shown() -> None:
    error = errors.BackendError("failed", request_id=KEY)
    assert KEY not in str(error) and KEY not in repr(error) and KEY not in str(error.context())
    error.request_id = f"req {KEY}"  # set after construction: still masked when shown
    assert KEY not in str(error)


# -- logging ------------------------------------------------------------------------------------


@pytest.mark.allow_stderr  # it logs an ERROR on purpose, to see it masked
def test_masked_loggers_mask_message_arguments_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    class Owner:
        pass

    owner = Owner()
    register_secret(KEY, owner=owner)
    logger = get_logger("invoiceai.tests.secrets")
    assert get_logger("invoiceai.tests.secrets").filters.count(logger.filters[0]) == 1  # attached once
    caplog.set_level(logging.DEBUG)
    logger.debug("attempt failed: %s", f"echo {TAIL}")
    try:
        raise RuntimeError(f"server said {KEY}")
    except RuntimeError:
        logger.exception("call failed")
    logger.info("nothing secret here: %d", 3)
    formatter = logging.Formatter()
    for record in caplog.records:
        assert KEY not in formatter.format(record) and TAIL not in formatter.format(record)
    assert "server said ***" in caplog.text and TAIL not in caplog.text
    assert caplog.records[-1].args == (3,)  # a clean record keeps its template and arguments


def test_every_logger_of_invoiceai_is_a_masked_one() -> None:
    # A filter on a logger only sees that logger's records: every module must get its logger
    # from invoiceai.secrets.get_logger, which attaches the filter.
    pending: set[str] = set()
    offenders = []
    for path in SOURCE.rglob("*.py"):
        relative = path.relative_to(SOURCE).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            called = node.func if isinstance(node, ast.Call) else None
            if isinstance(called, ast.Attribute) and called.attr == "getLogger" and relative != "secrets/logs.py":
                offenders.append(f"{relative}:{node.lineno}")
    assert sorted({item.partition(":")[0] for item in offenders} - pending) == [], offenders


# -- Redis passwords ----------------------------------------------------------------------------


def test_a_redis_password_appears_in_no_repr_message_or_traceback() -> None:
    pytest.importorskip("redis")
    from invoiceai.cache import CacheError, CacheRegistry, RedisCache, open_cache

    password = "Canary-Redis-Password-5150"
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"redis://app:{password}@127.0.0.1:{port}/0"
    registry = CacheRegistry.with_builtins()
    cache = registry.open(url)
    assert isinstance(cache, RedisCache)
    texts = [repr(cache), repr(registry), repr(open_cache(url)), repr(vars(cache))]
    with pytest.raises(CacheError) as caught:
        cache.get("k")
    texts += _chain_texts(caught.value)
    texts.append(mask_text(f"anything quoting {quote(password)} or {password}"))
    with pytest.raises(errors.ConfigurationError) as invalid:
        RedisCache(f"redis://:{password}@127.0.0.1:notaport/0")
    texts += _chain_texts(invalid.value)
    for text in texts:
        assert password not in text and quote(password) not in text
    cache.close()
