"""Who is calling: the ``Authorization: Bearer KEY`` check and the per-key rate limit, as a dependency."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from starlette.requests import Request

from invoiceai.server.errors import TooManyRequestsError, UnauthorizedError
from invoiceai.server.keys import ANONYMOUS, authenticate
from invoiceai.server.limits import retry_after_header

if TYPE_CHECKING:
    from invoiceai.server.context import ServiceContext

__all__ = ["Caller", "caller"]


@dataclasses.dataclass(frozen=True)
class Caller:
    """The key a request came with.

    Attributes:
        key_id: The key's public id (``anonymous`` without auth); jobs are owned by it.
        daily_quota: Documents it may submit per UTC day (``0``: no quota).
    """

    key_id: str
    daily_quota: int


def context_of(request: Request) -> ServiceContext:
    """The service context the app was built with."""
    context: ServiceContext = request.app.state.context
    return context


def caller(request: Request) -> Caller:
    """FastAPI dependency: the calling key, after the rate limit let it through.

    Raises:
        UnauthorizedError: No ``Bearer`` key, or an unknown or revoked one (401).
        TooManyRequestsError: The key's rate limit is reached (429 with ``Retry-After``).
    """
    context = context_of(request)
    settings = context.settings
    if not settings.auth:
        found = Caller(ANONYMOUS, settings.daily_quota)
    else:
        scheme, _, secret = request.headers.get("authorization", "").partition(" ")
        key = authenticate(context.engine, secret.strip()) if scheme.lower() == "bearer" else None
        if key is None:
            raise UnauthorizedError(
                "Send a valid API key in the Authorization header, scheme Bearer (see invoiceai keys create)."
            )
        quota = key.daily_quota if key.daily_quota is not None else settings.daily_quota
        found = Caller(key.id, quota)
    wait = context.seams.wait_seconds(found.key_id)  # the per-key rate limit (limits.KeyLimiter)
    if wait > 0:
        raise TooManyRequestsError(
            f"Rate limit reached for this key; retry in {wait:.1f} s.", retry_after=int(retry_after_header(wait))
        )
    return found
