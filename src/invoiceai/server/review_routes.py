"""The review page: ``/v1/jobs/{id}/review``, its data, the page images, and corrections.

The page (``GET /v1/jobs/{id}/review``) is a static HTML file with a little JavaScript and CSS
from ``server/static/``: it holds no job data, so it needs no key. Everything it shows comes
from the API calls below, which the page makes with the same key as any client
(``Authorization: Bearer``; the page asks for it in a form field). A strict
Content-Security-Policy allows only the service's own script and style, and the script writes
every value with ``textContent``, so invoice text can never become markup.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from starlette.responses import JSONResponse, Response

from invoiceai.server import store
from invoiceai.server.auth import Caller, caller, context_of
from invoiceai.server.db import reading
from invoiceai.server.errors import ConflictError, NotFoundError
from invoiceai.server.intake import path_id
from invoiceai.server.models import uploads
from invoiceai.server.review_edit import MAX_PATH
from invoiceai.server.review_store import correct, read_corrections
from invoiceai.server.review_view import RENDERABLE, review_view

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy.engine import Engine, RowMapping

__all__ = ["CorrectionIn", "install", "router"]

router = APIRouter(prefix="/v1", tags=["review"])

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"content": {"application/problem+json": {}}} for status in (400, 401, 404, 409, 413, 415, 422, 429)
}
_STATIC = {"review.html": "text/html; charset=utf-8", "review.js": "text/javascript; charset=utf-8",
           "review.css": "text/css; charset=utf-8"}  # fmt: skip
_SECURITY = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; "
        "form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class CorrectionIn(BaseModel):
    """A value to correct (or confirm: the same value again) in a succeeded job's result."""

    model_config = ConfigDict(extra="forbid")

    field: str = Field(min_length=1, max_length=MAX_PATH, description="The field's path: total, line_items[0].amount")
    value: Any = Field(description="The new value as JSON (money and dates as strings; null clears it)")


def _static(name: str) -> Response:
    body = (resources.files("invoiceai.server") / "static" / name).read_bytes()
    return Response(body, media_type=_STATIC[name], headers=_SECURITY)


@router.get("/jobs/{job_id}/review", response_class=Response, responses={200: {"content": {"text/html": {}}}})
def review_page(job_id: str) -> Response:
    """The review page of a job (HTML). It asks for the API key and loads the job with it."""
    return _static("review.html")


@router.get("/review/static/{name}", include_in_schema=False)
def review_static(name: str) -> Response:
    """The review page's script and stylesheet."""
    if name not in _STATIC or name.endswith(".html"):
        raise NotFoundError(f"No review asset {name!r}.")
    return _static(name)


def _job(request: Request, job_id: str, who: Caller) -> RowMapping:
    row = store.get_job(context_of(request).engine, path_id(job_id, "job"), who.key_id)
    if row is None:
        raise NotFoundError(f"No job {job_id!r} for this key.")
    return row


def _media_type(engine: Engine, row: RowMapping) -> str | None:
    if row["upload_sha256"] is None:
        return None
    with reading(engine) as connection:
        found = connection.execute(select(uploads.c.media_type).where(uploads.c.sha256 == row["upload_sha256"]))
        return found.scalar_one_or_none()


@router.get("/jobs/{job_id}/review/data", responses=_PROBLEMS)
def review_data(request: Request, job_id: str, who: Annotated[Caller, Depends(caller)]) -> Response:
    """What the review page shows: each value with page, box, confidence and findings; the pages; corrections."""
    engine = context_of(request).engine
    row = _job(request, job_id, who)
    result = json.loads(row["result"]) if row["status"] == "succeeded" and row["result"] else None
    view = review_view(row, result, read_corrections(engine, job_id), _media_type(engine, row))
    return JSONResponse(view, headers={"Cache-Control": "no-store"})


@router.get(
    "/jobs/{job_id}/pages/{number}",
    responses={**_PROBLEMS, 200: {"content": {"image/png": {}, "image/jpeg": {}}}},
)  # fmt: skip
def page_image(
    request: Request,
    job_id: str,
    number: Annotated[int, Path(ge=1, le=100_000)],
    who: Annotated[Caller, Depends(caller)],
) -> Response:
    """One page of the job's document as an image (at most 1400 pixels on its longest side)."""
    from invoiceai.documents import Document
    from invoiceai.extractor.page_images import page_images

    context = context_of(request)
    row = _job(request, job_id, who)
    upload = None if row["upload_sha256"] is None else store.read_upload(context.engine, row["upload_sha256"])
    if upload is None and row["upload_sha256"] is not None:
        days = context.settings.upload_retention_days
        raise ConflictError(
            f"This job's document was deleted from the job store after the upload retention ({days:g} days, "
            "upload_retention_days); it has no page images. Submit the document again to see its pages."
        )
    if upload is None:
        raise ConflictError("This job's document was fetched from a URL and is not kept; it has no page images.")
    data, media_type = upload
    if not any(media_type == kind or (kind.endswith("/") and media_type.startswith(kind)) for kind in RENDERABLE):
        raise ConflictError(f"This job's document is {media_type}: it has no pages to show.")
    read = json.loads(row["result"]).get("pages") if row["status"] == "succeeded" and row["result"] else None
    if read and number not in read:
        raise NotFoundError(f"Page {number} was not read for this job; its pages are {read}.")
    document = Document(data=data, media_type=media_type, name=row["source_name"])
    image = page_images(document, [number], settings=context.library_settings)[0]
    headers = {"Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff"}
    return Response(image.data, media_type=image.media_type, headers=headers)


@router.post("/jobs/{job_id}/corrections", status_code=201, responses=_PROBLEMS)
def post_correction(
    request: Request, job_id: str, body: CorrectionIn, who: Annotated[Caller, Depends(caller)]
) -> Response:
    """Corrects (or confirms) one value of a succeeded job's result; from then on the result is corrected.

    The value is validated through the job's schema (the Invoice model): a value it refuses is a
    422 problem. The correction is kept with the job: who (key id), when, the old and new value.
    """
    context = context_of(request)
    entry = correct(context.engine, path_id(job_id, "job"), who.key_id, body.field, body.value, context.schemas)
    return JSONResponse(entry.to_dict(), status_code=201)


@router.get("/jobs/{job_id}/corrections", responses=_PROBLEMS)
def list_corrections(request: Request, job_id: str, who: Annotated[Caller, Depends(caller)]) -> Response:
    """The job's corrections, oldest first: field, action, old and new value, key id, time."""
    _job(request, job_id, who)
    found = read_corrections(context_of(request).engine, job_id)
    return JSONResponse({"corrections": [entry.to_dict() for entry in found]})


def install(app: FastAPI) -> None:
    """Adds the review routes to ``app`` (and to the routes its 405 answers list)."""
    app.include_router(router)
    routes = getattr(app.state, "api_routes", None)
    if isinstance(routes, list):
        routes.extend(router.routes)
