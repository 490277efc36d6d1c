"""A finished job's result as an e-invoice: CII or UBL XML, or a Factur-X PDF, via the library's writers."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from invoiceai.server.errors import ConflictError
from invoiceai.server.store import read_upload

if TYPE_CHECKING:
    from sqlalchemy.engine import RowMapping
    from starlette.responses import Response

    from invoiceai.server.context import ServiceContext

__all__ = ["render_einvoice"]


def render_einvoice(context: ServiceContext, row: RowMapping, fmt: str) -> Response:
    """The job's invoice written as ``fmt`` (``cii``, ``ubl`` or ``facturx``).

    Raises:
        ConflictError: The job's schema is not an invoice, or Factur-X without a PDF document.
        RuleViolationError: The invoice breaks EN 16931 rules, so the XML would too (422).
        MissingFieldsError: The invoice lacks fields EN 16931 requires (422).
    """
    from starlette.responses import Response

    from invoiceai.einvoice import to_xml
    from invoiceai.schema.invoice import Invoice

    if context.schemas.get(row["schema_name"]) is not Invoice:
        raise ConflictError(f"Only invoice results can be written as {fmt}; this job used {row['schema_name']!r}.")
    data: dict[str, Any] = json.loads(row["result"])["data"]
    invoice = Invoice.model_validate(data)
    if fmt != "facturx":
        return Response(to_xml(invoice, "cii" if fmt == "cii" else "ubl"), media_type="application/xml")
    upload = None if row["upload_sha256"] is None else read_upload(context.engine, row["upload_sha256"])
    if upload is None and row["upload_sha256"] is not None:
        days = context.settings.upload_retention_days
        raise ConflictError(
            "Factur-X needs the invoice's PDF, and this job's document was deleted from the job store after "
            f"the upload retention ({days:g} days, upload_retention_days): submit the PDF again, or keep "
            "uploads longer (INVOICEAI_SERVER_UPLOAD_RETENTION_DAYS)."
        )
    if upload is None or upload[1] != "application/pdf":
        raise ConflictError("Factur-X needs the invoice's PDF: this job's document was not an uploaded PDF.")
    from invoiceai.render.pdf.facturx import to_facturx

    return Response(to_facturx(invoice, upload[0]), media_type="application/pdf")
