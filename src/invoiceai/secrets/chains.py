"""Exception chains safe to print: :func:`scrub_exception` replaces members that quote a secret."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from invoiceai.secrets.masking import mask_text

__all__ = ["MaskedException", "chain_members", "scrub_exception"]

_MAX_CHAIN = 100


class MaskedException(Exception):
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
    :func:`mask_text`), or which links to such a member, is replaced by a copy of its own class
    with its text and attributes masked (its traceback kept), or by a :class:`MaskedException`
    when no such copy can be made. Members that hold no secret stay as they are, so
    ``error.__cause__`` is usually the dependency's own exception. ``error`` itself is changed
    in place: its links, and its ``args`` and attributes when they held a secret. Call it before
    the error leaves the library; afterwards ``traceback.format_exception(error)``, and every
    ``str`` and ``repr`` along the chain, hold no secret. (``raise ... from None`` only hides
    ``__context__`` from tracebacks; this replaces it.)

    Args:
        error: The exception about to be raised (or re-raised).
        secrets: Literal secrets to mask besides the registered ones.

    Returns:
        ``error``.
    """
    known = tuple(secret for secret in secrets if secret)
    members = chain_members(error)
    ids = {id(member) for member in members}
    dirty = {id(member) for member in members if not _shows_nothing(member, known)}
    # A link to a member beyond the bound counts as dirty: that part of the chain is dropped.
    dirty |= {id(member) for member in members if any(id(link) not in ids for link in _links(member))}
    spread = True
    while spread:  # a member linking to a replaced one must be replaced too (chains may loop)
        spread = False
        for member in members:
            if id(member) not in dirty and any(id(link) in dirty for link in _links(member)):
                dirty.add(id(member))
                spread = True
    swaps = {id(m): m if m is error else _masked_copy(m, known) for m in members if id(m) in dirty}

    def swapped(link: BaseException | None) -> BaseException | None:
        if link is None or id(link) not in ids:
            return None if link is None else _dropped(link)
        return swaps.get(id(link), link)

    for member in members:
        target = swaps.get(id(member))
        if target is not None:
            suppress = member.__suppress_context__
            target.__context__ = swapped(member.__context__)
            target.__cause__ = swapped(member.__cause__)  # this sets __suppress_context__: restored
            target.__suppress_context__ = suppress
    if not _shows_nothing(error, known):
        _mask_in_place(error, known)
    return error


def chain_members(error: BaseException) -> list[BaseException]:
    """Every exception reachable from ``error`` through ``__cause__`` and ``__context__``, itself first.

    Loops are followed once, and the walk stops after a bounded number of members.
    """
    members: list[BaseException] = []
    seen: set[int] = set()
    stack = [error]
    while stack and len(members) < _MAX_CHAIN:
        member = stack.pop()
        if id(member) in seen:
            continue
        seen.add(id(member))
        members.append(member)
        stack += reversed(_links(member))
    return members


def _links(exc: BaseException) -> list[BaseException]:
    return [link for link in (exc.__cause__, exc.__context__) if link is not None]


def _dropped(exc: BaseException) -> BaseException:
    return MaskedException(f"{type(exc).__module__}.{type(exc).__qualname__}", "(rest of the chain dropped)")


def _mask_in_place(error: BaseException, secrets: tuple[str, ...]) -> None:
    try:
        error.args = tuple(_masked_value(arg, secrets) for arg in error.args)
        vars(error).update({name: _masked_value(value, secrets) for name, value in vars(error).items()})
    except (AttributeError, TypeError):  # pragma: no cover - an exception type without a __dict__
        pass


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
    copy.__cause__ = copy.__context__ = None  # linked by scrub_exception
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
