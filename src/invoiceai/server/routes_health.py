"""``/healthz``, ``/readyz`` and ``/metrics``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from invoiceai.server.auth import context_of
from invoiceai.server.db import check

__all__ = ["router"]

router = APIRouter()

_READY = {
    "description": "Every check passed",
    "content": {"application/json": {"schema": {
        "type": "object", "required": ["status", "checks"],
        "properties": {"status": {"type": "string", "enum": ["ok", "unavailable"]},
                       "checks": {"type": "object", "additionalProperties": {"type": "string"}}},
    }}},
}  # fmt: skip

_PROBE_KEY = "invoiceai-readyz-probe"


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


def _outcome(probe: Callable[[], str | None]) -> str:
    """``ok``, or why the probe failed (masked: a driver's message may hold a URL with a password)."""
    from invoiceai.secrets import mask_text

    try:
        problem = probe()
    except Exception as exc:  # any error means "not ready"; its text is the reason
        problem = f"{type(exc).__name__}: {exc}"
    return "ok" if problem is None else mask_text(problem)[:300]


def _cache_probe(context: Any) -> str | None:
    cache = context.extractor().cache
    if cache is not None:
        cache.get(_PROBE_KEY)  # raises CacheError when the cache cannot be reached
    return None


@router.get("/readyz", responses={200: _READY, 503: {"description": "A check failed: see checks"}})
def readyz(request: Request) -> Response:
    """200 when the job store, the broker (fleet mode) and the result cache answer and the backend is configured.

    503 with the reason of each failed check otherwise. ``broker`` is checked only in fleet mode,
    ``cache`` only when a result cache is configured.
    """
    context = context_of(request)
    checks = {"database": _outcome(lambda: check(context.engine))}
    publisher = getattr(request.app.state, "publisher", None)
    if publisher is not None:
        checks["broker"] = _outcome(lambda: publisher.check())
    checks["backend"] = _outcome(context.backend_problem)
    if context.settings.cache.lower() not in {"none", "off", ""}:
        checks["cache"] = _outcome(lambda: _cache_probe(context))
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status_code=200 if ready else 503
    )


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus metrics: requests, latency and errors; jobs by state, queue, documents, tokens and cost."""
    context = context_of(request)
    feed = getattr(request.app.state, "feed", None)
    if feed is not None:
        feed.update()
    body, content_type = context.seams.render_metrics()
    return Response(body, media_type=content_type)
