"""``create_app``: the FastAPI application of the service, with its workers in embedded mode."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from invoiceai._version import __version__
from invoiceai.server import guard, problems
from invoiceai.server.context import ServiceContext
from invoiceai.server.metrics import UNMATCHED_ROUTE
from invoiceai.server.review_routes import install as install_review
from invoiceai.server.routes_batches import router as batches_router
from invoiceai.server.routes_health import router as health_router
from invoiceai.server.routes_jobs import router as jobs_router
from invoiceai.server.settings import ServiceSettings

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from invoiceai.server.seams import Seams

__all__ = ["create_app"]


class _Timing:
    """ASGI middleware that reports every request's route, status and latency to the metrics."""

    def __init__(self, app: ASGIApp, seams: Seams) -> None:
        self.app = app
        self.seams = seams

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            # The route's template, never the raw path: every job id would become a time series.
            path = getattr(scope.get("route"), "path", None) or UNMATCHED_ROUTE
            self.seams.request(path, status, time.perf_counter() - started, str(scope.get("method", "GET")))


def _lifespan(service: ServiceContext, *, owned: bool, start_workers: bool) -> Any:
    """Starts what runs the jobs (a fleet's publisher, or the in-process workers and webhooks) and the metrics feed."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from invoiceai.server.observe import StoreFeed
        from invoiceai.server.workers import WorkerPool

        pool, publisher, upkeep = None, None, contextlib.ExitStack()
        if start_workers and not service.settings.fleet:  # a fleet's workers deliver webhooks and purge
            from invoiceai.server.upkeep import running

            upkeep.enter_context(running(service))
        if service.settings.fleet:  # Celery workers run the jobs; this process only queues them
            from invoiceai.server.fleet import Publisher

            publisher = Publisher(service.settings, service.engine)
        elif start_workers and service.settings.workers > 0:
            pool = WorkerPool(service, service.settings.workers)
            pool.start()
        app.state.pool, app.state.publisher = pool, publisher
        app.state.feed = StoreFeed(service.engine, service.seams.metrics)
        try:
            yield
        finally:
            if pool is not None:
                pool.stop()
            if publisher is not None:
                publisher.close()
            upkeep.close()
            if owned:
                service.close()

    return lifespan


def create_app(
    settings: ServiceSettings | None = None,
    *,
    context: ServiceContext | None = None,
    start_workers: bool = True,
    **context_options: Any,
) -> FastAPI:
    """The service as an ASGI application.

    The job store is opened and migrated here; the in-process workers (``settings.workers``
    threads, embedded mode) start with the application and stop with it, letting the jobs they
    run finish.

    Args:
        settings: The service's settings (default :meth:`ServiceSettings.load`).
        context: A ready context (its settings win); else one is built from ``settings`` and
            ``context_options`` and closed with the app.
        start_workers: Start the in-process workers. With a ``broker_url`` (fleet mode) none
            start: jobs are sent to Celery workers (``invoiceai worker``) instead.
        **context_options: ``extractor=``, ``schemas=``, ``limiter=``, ``metrics=``: see
            :class:`~invoiceai.server.context.ServiceContext`.

    Returns:
        The FastAPI application.
    """
    owned = context is None
    if context is None:
        context = ServiceContext(settings or ServiceSettings.load(), **context_options)
    service = context

    lifespan = _lifespan(service, owned=owned, start_workers=start_workers)
    app = FastAPI(
        title="invoiceai service", version=__version__, lifespan=lifespan,
        description="Invoices in, typed data out: uploads, jobs, results, audit. Errors are application/problem+json.",
    )  # fmt: skip
    app.state.context = service
    app.state.pool = app.state.publisher = app.state.feed = None
    problems.install(app, on_error=service.seams.error)
    guard.install(app)  # outermost: no exception or raw traceback gets past it
    for router in (jobs_router, batches_router, health_router):
        app.include_router(router)
    app.state.api_routes = [route for router in (jobs_router, batches_router, health_router) for route in router.routes]
    install_review(app)
    app.add_middleware(_Timing, seams=service.seams)
    problems.document(app)
    return app
