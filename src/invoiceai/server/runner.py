"""``run_job``: the one code path that runs a job, for in-process workers and fleet workers alike.

It claims the job (a conditional update, see :mod:`invoiceai.server.leases`), keeps the claim's
lease alive while the extractor works, and stores the outcome exactly once. Running it again for a
job that is done, canceled or held by a live worker does nothing, so a redelivered task is
harmless; a redelivered task whose first run finished the extraction but died before storing it
runs again, and the extractor's result cache answers it without a second model call.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from invoiceai.errors import ConfigurationError, InvoiceAIError
from invoiceai.secrets import get_logger
from invoiceai.server import leases, store

if TYPE_CHECKING:
    from sqlalchemy.engine import RowMapping

    from invoiceai.server.context import ServiceContext

__all__ = ["notify", "result_json", "run_job"]

_log = get_logger("invoiceai.server")


def result_json(result: Any) -> str:
    """A result as the JSON text ``invoiceai extract --format jsonl`` writes for it (one line, no newline).

    The service stores exactly what the command line prints, through the command line's own writer.
    """
    from invoiceai.cli.output import ResultWriter

    buffer = io.StringIO()
    ResultWriter(buffer, "jsonl").write(result)
    return buffer.getvalue().rstrip("\n")


def run_job(job_id: str, context: ServiceContext) -> bool:
    """Runs one job if it can be claimed; returns whether this call stored its outcome.

    Args:
        job_id: The job to run.
        context: The process's store, extractor and seams.

    Returns:
        ``True`` when this call ran the job and stored its outcome; ``False`` when the job was not
        claimable (finished, canceled, held by a live lease) or was canceled while it ran.
    """
    settings = context.settings
    claim = leases.claim(
        context.engine, job_id, context.worker_id, settings.lease_seconds, max_attempts=settings.max_attempts
    )
    if claim is None:
        return False
    context.seams.job_state("running")
    with _lease_kept(context, claim):
        outcome = _extract(context, claim.job)
    if not leases.finish(context.engine, claim, outcome):
        return False
    # Tokens, cost, documents and job errors reach the metrics from the store (see observe.py),
    # which also sees what workers in other processes did.
    context.seams.job_state(outcome.status)
    notify(context, claim.job, outcome.status)
    return True


def notify(context: ServiceContext, job: RowMapping, status: str) -> None:
    """Wakes the process's webhook deliverer after ``job`` ended in ``status``, if it has a callback URL.

    The transaction that ended the job wrote its outbox row already (``leases.finish``, a
    give-up, ``store.cancel``): this only saves the deliverer its wait until the next look.
    The deliverer (:class:`~invoiceai.server.outbox.Deliverer`) sends it, retries it and audits
    every attempt.
    """
    if job.get("callback_url"):
        context.seams.webhook_queued()


@contextlib.contextmanager
def _lease_kept(context: ServiceContext, claim: leases.Claim) -> Iterator[None]:
    """Renews the claim's lease every third of its length until the block ends."""
    done = threading.Event()
    lease = context.settings.lease_seconds

    def keep() -> None:
        while not done.wait(lease / 3):
            try:
                if not leases.renew(context.engine, claim, lease):
                    return  # canceled or taken over: the result will not be stored anyway
            except Exception:  # a database hiccup: the next renewal may work; the lease is still ours for a while
                _log.warning("could not renew the lease of job %s", claim.job["id"], exc_info=True)

    thread = threading.Thread(target=keep, name=f"lease-{claim.job['id']}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _source(context: ServiceContext, job: RowMapping) -> Any:
    from invoiceai.documents import Document

    if job["upload_sha256"] is None:
        return job["url"]
    upload = store.read_upload(context.engine, job["upload_sha256"])
    if upload is None:
        raise ConfigurationError(f"The upload of job {job['id']} is missing from the job store.")
    return Document(data=upload[0], media_type=upload[1], name=job["source_name"])


def _extract(context: ServiceContext, job: RowMapping) -> leases.Outcome:
    from invoiceai.extractor import ExtractionFailure
    from invoiceai.usage import Usage

    try:
        schema = context.schemas.get(job["schema_name"])
        if schema is None:
            raise ConfigurationError(f"The schema {job['schema_name']!r} is not served any more.")
        result = context.extractor().extract(
            _source(context, job), schema=schema, pages=job["pages"], password=job["password"]
        )
    except InvoiceAIError as exc:
        failure = ExtractionFailure(
            error=exc, source=job["source_name"], document_id=exc.document_id or job["document_sha256"],
            usage=exc.usage or Usage(),
        )  # fmt: skip
        return _failed(failure, type(exc).__name__, exc.message)
    except Exception:  # a defect, not the document: keep the traceback in the log, out of the result
        _log.exception("job %s failed unexpectedly", job["id"])
        error = InvoiceAIError("The service failed unexpectedly while extracting; the error is in the server log.")
        failure = ExtractionFailure(error=error, source=job["source_name"], document_id=job["document_sha256"])
        return _failed(failure, "InternalError", error.message)
    usage = result.usage
    return leases.Outcome(
        status="succeeded", result=result_json(result), document_sha256=result.document_id, origin=result.origin,
        model=result.model, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
        cost_usd=f"{usage.cost_usd:f}", findings=len(result.findings),
    )  # fmt: skip


def _failed(failure: Any, error_type: str, message: str) -> leases.Outcome:
    usage = failure.usage
    return leases.Outcome(
        status="failed", result=result_json(failure), document_sha256=failure.document_id,
        input_tokens=usage.input_tokens, output_tokens=usage.output_tokens, cost_usd=f"{usage.cost_usd:f}",
        error_type=error_type, error_message=message,
    )  # fmt: skip
