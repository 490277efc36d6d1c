"""What the submit routes do around the store: check a callback URL, hand new jobs to the workers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool

from invoiceai.server.auth import context_of
from invoiceai.server.errors import InvalidRequestError

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = ["check_callback", "dispatch"]


async def check_callback(request: Request, url: str | None) -> None:
    """Refuses a ``callback_url`` the webhook could never be sent to, before any job is queued.

    Raises:
        InvalidRequestError: The service has no webhook secret, so it sends no webhooks (422).
        UnsafeURLError: The URL's host is, or resolves to, an internal address (422 ``unsafe-url``).
        FetchError: The host does not resolve (422 ``fetch-failed``).
    """
    if url is None:
        return
    context = context_of(request)
    if not context.settings.webhook_secret:
        raise InvalidRequestError(
            "This service sends no webhooks: it has no webhook secret (INVOICEAI_SERVER_WEBHOOK_SECRET). "
            "Leave callback_url out and poll the job, or ask the operator to set one."
        )
    from invoiceai.server.webhooks import check_callback_url

    await check_callback_url(url, settings=context.library_settings)


async def dispatch(request: Request, job_ids: Sequence[str]) -> None:
    """Tells whoever runs jobs that these were queued: the fleet's broker, or the in-process workers."""
    publisher = getattr(request.app.state, "publisher", None)
    if publisher is not None:
        await run_in_threadpool(publisher.publish, list(job_ids))
        return
    pool = getattr(request.app.state, "pool", None)
    if pool is not None:
        pool.wake()
