"""``POST /v1/documents`` and ``/v1/jobs/{id}``: submit one document, read its job and result, cancel it."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from invoiceai.server import store
from invoiceai.server.audit import record
from invoiceai.server.auth import Caller, caller, context_of
from invoiceai.server.errors import ConflictError, NotFoundError
from invoiceai.server.intake import idempotency_key as checked_key
from invoiceai.server.intake import path_id, read_document
from invoiceai.server.models import FINAL_STATES
from invoiceai.server.runner import notify
from invoiceai.server.submit import check_callback, dispatch
from invoiceai.server.views import JobOut, Problem, job_view

__all__ = ["ERRORS", "OPTIONS_SCHEMA", "UPLOAD_BODY", "idempotency_header", "router"]

router = APIRouter(prefix="/v1")

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {"application/problem+json": {}}} for status in (401, 404, 422, 429)
}


def _options(*, json: bool) -> dict[str, Any]:
    """The options of a document: each a string, or empty (or null in JSON) for "not given"."""

    def option(**extra: Any) -> dict[str, Any]:
        given = {"type": "string", "minLength": 1, "maxLength": 2048, **extra}
        return {"anyOf": [given, {"type": "string", "maxLength": 0}, *([{"type": "null"}] if json else [])]}

    return {
        "schema": option(description="A schema name the service knows (default invoice)"),
        "pages": option(description='Pages to read, "1-3,7"'),
        "password": option(format="password", description="For an encrypted PDF"),
        "callback_url": option(format="uri", description="Where the completion webhook goes"),
    }


OPTIONS_SCHEMA = _options(json=True)
"""The options of a document in a JSON body."""

FORM_OPTIONS_SCHEMA = _options(json=False)
"""The options of a document as multipart form fields."""

UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}, **FORM_OPTIONS_SCHEMA},
                }
            },
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["url"],
                    "additionalProperties": False,
                    "properties": {"url": {"type": "string", "format": "uri", "maxLength": 2048}, **OPTIONS_SCHEMA},
                }
            },
        },
    }
}

_FORMATS = ("json", "cii", "ubl", "facturx")


def idempotency_header() -> Any:
    """The ``Idempotency-Key`` header as the OpenAPI describes it: 1 to 100 printable ASCII characters."""
    return Header(
        min_length=1, max_length=100, pattern=r"^[ -~]+$",
        description="Names the job (or batch): the same key returns the same one instead of a new one.",
    )  # fmt: skip


def _idempotency_key(value: str | None) -> str | None:
    checked = checked_key(value)
    return None if checked is None else "key:" + checked  # apart from the default keys ("sha256:...")


@router.post(
    "/documents", status_code=202, response_model=JobOut, openapi_extra=UPLOAD_BODY,
    responses={**ERRORS, 200: {"model": JobOut}, 413: ERRORS[401], 415: ERRORS[401]},
)  # fmt: skip
async def submit_document(
    request: Request,
    who: Annotated[Caller, Depends(caller)],
    idempotency_key: Annotated[str | None, idempotency_header()] = None,
    wait: Annotated[float, Query(ge=0, description="Seconds to wait for the result")] = 0,
) -> Response:
    """Queues one document (multipart ``file``, or JSON ``{"url": ...}``) and returns its job (202).

    The same document with the same options (or the same ``Idempotency-Key``) returns the
    existing job. With ``?wait=N`` the call waits up to N seconds and answers 200 with the job
    and its ``result`` when it finished in time.
    """
    context = context_of(request)
    explicit = _idempotency_key(idempotency_key)
    submission = await read_document(
        request, limit=context.settings.max_upload_bytes, schemas=context.schemas, settings=context.library_settings
    )
    await check_callback(request, submission.callback_url)
    row, created = await run_in_threadpool(
        store.create_job, context.engine, who.key_id, submission, idempotency_key=explicit,
        daily_quota=who.daily_quota,
    )  # fmt: skip
    if created:
        context.seams.job_state("queued")
        await dispatch(request, [row["id"]])
    waited = min(wait, context.settings.max_wait_seconds)
    if waited > 0 and row["status"] not in FINAL_STATES:
        row = await _wait_for(context, row["id"], who.key_id, waited)
    if row["status"] in FINAL_STATES and waited > 0:
        if "result" not in row:  # _wait_for reads the view's columns only
            full = await run_in_threadpool(store.get_job, context.engine, row["id"], who.key_id)
            row = row if full is None else full
        result = json.loads(row["result"]) if row["result"] else None
        return JSONResponse(job_view(row, result=result), status_code=200)
    return JSONResponse(job_view(row), status_code=202 if row["status"] not in FINAL_STATES else 200)


async def _wait_for(context: Any, job_id: str, owner: str, seconds: float) -> Any:
    """Polls the store until the job ends or ``seconds`` pass (workers may be other processes)."""
    deadline = time.monotonic() + seconds
    pause = 0.02
    while True:
        row = await run_in_threadpool(store.get_job, context.engine, job_id, owner, columns=store.JOB_VIEW_COLUMNS)
        remaining = deadline - time.monotonic()
        if row is None or row["status"] in FINAL_STATES or remaining <= 0:
            return row
        await asyncio.sleep(min(pause, remaining))
        pause = min(pause * 2, 0.5)


@router.get("/jobs/{job_id}", response_model=JobOut, responses=ERRORS)
def get_job(request: Request, job_id: str, who: Annotated[Caller, Depends(caller)]) -> Response:
    """A job: status, progress, timings, usage and cost, findings count."""
    row = store.get_job(context_of(request).engine, path_id(job_id, "job"), who.key_id, columns=store.JOB_VIEW_COLUMNS)
    if row is None:
        raise NotFoundError(f"No job {job_id!r} for this key.")
    return JSONResponse(job_view(row))


@router.delete("/jobs/{job_id}", response_model=JobOut, responses=ERRORS)
def cancel_job(request: Request, job_id: str, who: Annotated[Caller, Depends(caller)]) -> Response:
    """Cancels a queued or running job; a finished job is returned unchanged."""
    context = context_of(request)
    row, changed = store.cancel(context.engine, path_id(job_id, "job"), who.key_id)
    if row is None:
        raise NotFoundError(f"No job {job_id!r} for this key.")
    if changed:
        context.seams.job_state("canceled")
        notify(context, row, "canceled")
    return JSONResponse(job_view(row))


@router.get(
    "/jobs/{job_id}/result",
    responses={**ERRORS, 409: ERRORS[401], 200: {"content": {"application/json": {}, "application/xml": {},
                                                              "application/pdf": {}}}},
)  # fmt: skip
def get_result(
    request: Request,
    job_id: str,
    who: Annotated[Caller, Depends(caller)],
    format: Annotated[str, Query(pattern="^(json|cii|ubl|facturx)$")] = "json",
) -> Response:
    """The extraction as ``invoiceai extract --format json`` prints it, or as an e-invoice (``?format=``)."""
    context = context_of(request)
    job_id = path_id(job_id, "job")
    row = store.get_job(context.engine, job_id, who.key_id)
    if row is None:
        raise NotFoundError(f"No job {job_id!r} for this key.")
    outcome = "ok" if row["status"] == "succeeded" else f"refused: {row['status']}"
    with context.engine.begin() as connection:
        record(
            connection, key_id=who.key_id, action="read_result", outcome=outcome, job_id=job_id,
            batch_id=row["batch_id"], document_sha256=row["document_sha256"], detail=format,
        )  # fmt: skip
    if row["status"] != "succeeded":
        raise ConflictError(_not_ready(row))
    if format == "json":
        return Response(row["result"], media_type="application/json")
    from invoiceai.server.formats import render_einvoice

    return render_einvoice(context, row, format)


def _not_ready(row: Any) -> str:
    if row["status"] == "failed":
        return f"The job failed ({row['error_type']}: {row['error_message']}); it has no result."
    if row["status"] == "canceled":
        return "The job was canceled; it has no result."
    return f"The job is {row['status']}; ask again when its status is succeeded."
