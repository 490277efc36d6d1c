"""What the Message Batches driver hands the library: the documents, schema, password, and the extractor."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from invoiceai.errors import ConfigurationError
from invoiceai.server import store
from invoiceai.server.message_batches_store import DatabaseBatchStore

if TYPE_CHECKING:
    from sqlalchemy.engine import RowMapping

    from invoiceai.server.context import ServiceContext

__all__ = ["collector", "password_of", "schema_of", "sources"]


def collector(context: ServiceContext, job_id: str) -> Any:
    """The extractor, with the ``max_reasks`` and ``token_budget`` the job was submitted with (as the CLI collects).

    A service restarted with other values still collects its batches as they were decided.
    """
    from invoiceai.extractor.batch_state import JobMeta

    extractor = context.extractor()
    stored = JobMeta.load(DatabaseBatchStore(context.engine), job_id).options
    changes = {name: stored[name] for name in ("max_reasks", "token_budget") if stored.get(name) is not None}
    with_settings = getattr(extractor.backend, "with_settings", None)
    if not changes or not callable(with_settings):
        return extractor
    _ = extractor.cache  # opened once, here: the copy shares it (and never closes it)
    collector = copy.copy(extractor)
    collector.backend = with_settings(**changes)
    return collector


def sources(context: ServiceContext, rows: Sequence[RowMapping]) -> Iterator[Any]:
    """Each job's document, read from the store only when the library takes it (one at a time)."""
    from invoiceai.documents import Document

    for job in rows:
        if job["upload_sha256"] is None:
            yield job["url"]  # fetched by the library at submission, through its SSRF guard
            continue
        upload = store.read_upload(context.engine, job["upload_sha256"])
        if upload is None:
            raise ConfigurationError(f"The upload of job {job['id']} is missing from the job store.")
        yield Document(data=upload[0], media_type=upload[1], name=job["source_name"])


def schema_of(context: ServiceContext, job: RowMapping) -> type[Any]:
    """The schema the job names, as this service serves it.

    Raises:
        ConfigurationError: The service no longer serves it.
    """
    schema = context.schemas.get(job["schema_name"])
    if schema is None:
        raise ConfigurationError(f"The schema {job['schema_name']!r} is not served any more.")
    return schema


def password_of(rows: Sequence[RowMapping]) -> str | None:
    """The batch's PDF password, from any job still holding it."""
    # A batch's options are the same for every job; a job that ended no longer holds them.
    return next((job["password"] for job in rows if job["password"]), None)
