"""One spelling of the ``with`` / ``async with`` protocol for objects that own resources."""

from __future__ import annotations

from typing import TypeVar

__all__ = ["Closeable"]

_C = TypeVar("_C", bound="Closeable")


class Closeable:
    """Mixin: ``with obj:`` calls :meth:`close` on exit, ``async with obj:`` calls :meth:`aclose`.

    Subclasses implement both methods; each must be safe to call more than once.
    """

    def close(self) -> None:
        """Releases what the object opened."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Async twin of :meth:`close`."""
        raise NotImplementedError

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self: _C) -> _C:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
