"""``/v1/batches``: many documents in one call, their progress, and their results in input order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response, StreamingResponse

from invoiceai.server import store
from invoiceai.server.audit import record
from invoiceai.server.auth import Caller, caller, context_of
from invoiceai.server.errors import NotFoundError
from invoiceai.server.intake import idempotency_key as checked_key
from invoiceai.server.intake import path_id, read_batch
from invoiceai.server.message_batches import check_available
from invoiceai.server.models import FINAL_STATES
from invoiceai.server.routes_jobs import ERRORS, OPTIONS_SCHEMA, UPLOAD_BODY, idempotency_header
from invoiceai.server.submit import check_callback, dispatch
from invoiceai.server.views import BatchOut, batch_view, job_view

__all__ = ["router"]

router = APIRouter(prefix="/v1")

_MESSAGE_BATCHES: dict[str, Any] = {
    "type": "boolean",
    "default": False,
    "description": "Send the batch through the Message Batches API: half the price, results within 24 hours. "
    "Its jobs stay queued until it is sent, then running. A service whose backend has no Message Batches "
    "side answers 422 (urn:invoiceai:problem:invalid-request) instead of running it live.",
}

_BATCH_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        **UPLOAD_BODY["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"],
                        "file": {"type": "array", "items": {"type": "string", "format": "binary"}},
                        "message_batches": _MESSAGE_BATCHES,
                    },
                }
            },
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["urls"],
                    "additionalProperties": False,
                    "properties": {
                        "urls": {
                            "type": "array",
                            "minItems": 1,
                            "items": {"type": "string", "format": "uri", "maxLength": 2048},
                        },
                        "message_batches": _MESSAGE_BATCHES,
                        **OPTIONS_SCHEMA,
                    },
                }
            },
        },
    }
}


@router.post(
    "/batches", status_code=202, response_model=BatchOut, openapi_extra=_BATCH_BODY,
    responses={**ERRORS, 413: ERRORS[401], 415: ERRORS[401]},
)  # fmt: skip
async def submit_batch(
    request: Request,
    who: Annotated[Caller, Depends(caller)],
    idempotency_key: Annotated[str | None, idempotency_header()] = None,
) -> Response:
    """Queues many documents (multipart ``file`` fields, or JSON ``{"urls": [...]}``), a job each.

    ``message_batches: true`` sends the batch through the Message Batches API (half price, results
    within 24 h): its jobs are ``queued`` until it is sent, then ``running`` until their results
    arrive. A service whose backend has no Message Batches side refuses it with 422
    ``invalid-request`` rather than running it live.
    """
    context = context_of(request)
    key = checked_key(idempotency_key)  # before the body is read, as for one document
    submissions, message_batches = await read_batch(
        request, limit=context.settings.max_batch_bytes, max_documents=context.settings.max_batch_documents,
        schemas=context.schemas, settings=context.library_settings, engine=context.engine,
    )  # fmt: skip
    await check_callback(request, submissions[0].callback_url)  # the options are the same for every document
    if message_batches:
        await run_in_threadpool(check_available, context)
    batch, created = await run_in_threadpool(
        store.create_batch, context.engine, who.key_id, submissions, idempotency_key=key,
        daily_quota=who.daily_quota, message_batches=message_batches,
    )  # fmt: skip
    rows = await run_in_threadpool(store.job_rows_of_batch, context.engine, batch["id"], columns=store.JOB_VIEW_COLUMNS)
    if created:
        for _ in rows:
            context.seams.job_state("queued")
        if not batch["message_batches"]:  # a Message Batch is sent by its driver, not by the workers
            await dispatch(request, [row["id"] for row in rows])
    view = batch_view(batch, [row["status"] for row in rows], jobs=[job_view(row) for row in rows])
    return JSONResponse(view, status_code=202)


def _batch(request: Request, batch_id: str, who: Caller) -> Any:
    batch = store.get_batch(context_of(request).engine, path_id(batch_id, "batch"), who.key_id)
    if batch is None:
        raise NotFoundError(f"No batch {batch_id!r} for this key.")
    return batch


@router.get("/batches/{batch_id}", response_model=BatchOut, responses=ERRORS)
def get_batch(request: Request, batch_id: str, who: Annotated[Caller, Depends(caller)]) -> Response:
    """A batch's counts per status and its progress."""
    batch = _batch(request, batch_id, who)
    rows = store.job_rows_of_batch(context_of(request).engine, batch["id"], columns=("status",))
    return JSONResponse(batch_view(batch, [row["status"] for row in rows]))


@router.get(
    "/batches/{batch_id}/results",
    responses={**ERRORS, 200: {"content": {"application/x-ndjson": {}}}},
    response_class=StreamingResponse,
)
def get_batch_results(request: Request, batch_id: str, who: Annotated[Caller, Depends(caller)]) -> Response:
    """One JSON line per document, in input order, each as ``invoiceai extract --format jsonl`` writes it.

    Lines are sent as soon as the jobs before them are done, so the stream ends when the batch does.
    A canceled job's line is ``{"source", "document_id", "error": {"type": "Canceled", ...}}``.
    """
    context = context_of(request)
    batch_id = _batch(request, batch_id, who)["id"]
    with context.engine.begin() as connection:
        record(connection, key_id=who.key_id, action="read_result", outcome="ok", batch_id=batch_id, detail="jsonl")
    job_ids = [row["id"] for row in store.job_rows_of_batch(context.engine, batch_id, columns=("id",))]
    return StreamingResponse(_lines(context, job_ids, who.key_id), media_type="application/x-ndjson")


async def _lines(context: Any, job_ids: list[str], owner: str) -> AsyncIterator[bytes]:
    import json

    for job_id in job_ids:
        pause = 0.02
        while True:
            # The whole row: a job's result is NULL until it ends, so polling costs no large reads.
            row = await run_in_threadpool(store.get_job, context.engine, job_id, owner)
            if row is None or row["status"] in FINAL_STATES:
                break
            await asyncio.sleep(pause)  # workers may be other processes: the store is the only signal
            pause = min(pause * 2, 1.0)
        if row is not None and row["result"]:
            yield row["result"].encode() + b"\n"
        elif row is not None:
            yield json.dumps(_error_line(row), ensure_ascii=False).encode() + b"\n"


def _error_line(row: Any) -> dict[str, Any]:
    """The line of a job that ended with no result: canceled (or failed before it stored one)."""
    if row["status"] == "canceled" or row["error_type"] is None:
        error = {"type": "Canceled", "message": "The job was canceled.", "job_id": row["id"]}
    else:
        error = {"type": row["error_type"], "message": row["error_message"] or "", "job_id": row["id"]}
    return {"source": row["source_name"], "document_id": row["document_sha256"], "error": error}
