"""The per-call ``detail=`` of the facade: the backend to use for one call."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoiceai.config import DETAILS
from invoiceai.errors import ConfigurationError

if TYPE_CHECKING:
    from invoiceai.backends.base import Backend
    from invoiceai.config import Detail

__all__ = ["at_detail"]


def at_detail(backend: Backend, detail: Detail | None) -> Backend:
    """Returns ``backend`` at ``detail`` (``None``: as configured), through its ``with_detail`` method.

    The backend returned has its own image budget and fingerprint, so pages are rendered, warmed
    and cached for that detail level; it shares the original's clients and limits.

    Raises:
        ConfigurationError: ``detail`` is unknown, or the backend has no detail levels.
    """
    if detail is None:
        return backend
    if detail not in DETAILS:
        raise ConfigurationError(f"Unknown detail {detail!r}; choose one of {list(DETAILS)}.")
    with_detail = getattr(backend, "with_detail", None)
    if not callable(with_detail):
        raise ConfigurationError(
            f"detail= needs a backend with detail levels (the built-in Claude backend); "
            f"{type(backend).__name__} has none. Leave detail= unset."
        )
    changed: Backend = with_detail(detail)
    return changed
