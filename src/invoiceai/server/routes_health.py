"""``/healthz``, ``/readyz`` and ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from invoiceai.server.auth import context_of
from invoiceai.server.db import check
from invoiceai.server.errors import NotFoundError

__all__ = ["router"]

router = APIRouter()


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> Response:
    """200 when the job store answers and the extraction backend is configured; 503 with the reasons otherwise."""
    context = context_of(request)
    checks: dict[str, str] = {}
    try:
        check(context.engine)
        checks["database"] = "ok"
    except Exception as exc:  # any driver error means "not ready"; the reason is shown without secrets
        from invoiceai.secrets import mask_text

        checks["database"] = mask_text(f"{type(exc).__name__}: {exc}")[:300]
    try:
        checks["backend"] = context.backend_problem() or "ok"
    except Exception as exc:
        from invoiceai.secrets import mask_text

        checks["backend"] = mask_text(str(exc))[:300]
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status_code=200 if ready else 503
    )


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus metrics (when ``invoiceai.server.metrics`` is installed)."""
    rendered = context_of(request).seams.render_metrics()
    if rendered is None:
        raise NotFoundError("Metrics are not available in this installation.")
    body, content_type = rendered
    return Response(body, media_type=content_type)
