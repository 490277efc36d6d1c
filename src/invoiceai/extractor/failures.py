"""How a failed extraction leaves the library: as a typed error with nothing secret on its chain.

:func:`failure` turns any exception into the :class:`~invoiceai.ExtractionFailure` a batch
reports; :func:`scrubbed` guards what :meth:`~invoiceai.Extractor.extract` raises.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from invoiceai.errors import InvoiceAIError
from invoiceai.extractor.result import ExtractionFailure
from invoiceai.extractor.steps import describe
from invoiceai.usage import Usage

if TYPE_CHECKING:
    from invoiceai.documents import Document, Source
    from invoiceai.extractor.pipeline import Clock

__all__ = ["attachment_warning", "failure", "scrubbed"]


def failure(source: Source | None, error: BaseException, document: Document | None, clock: Clock) -> ExtractionFailure:
    """The :class:`~invoiceai.ExtractionFailure` a batch reports for a document that failed.

    An unexpected (non-``InvoiceAIError``) exception is wrapped, with the original kept on
    ``__cause__`` for the bug report, so one defect does not stop the batch.
    """
    from invoiceai.secrets import scrub_exception

    if not isinstance(error, InvoiceAIError):
        wrapped = InvoiceAIError(f"Unexpected {type(error).__name__} (please report this): {error}")
        wrapped.__cause__ = error
        error = wrapped
    scrub_exception(error)  # a failure is printed and logged: nothing secret along its chain
    _drop_frames(error)
    usage = getattr(error, "usage", None)
    return ExtractionFailure(
        error=error,
        source=document.name if document is not None else describe(source),
        document_id=document.document_id if document is not None else getattr(error, "document_id", None),
        usage=usage if isinstance(usage, Usage) else Usage(),
        timings=clock.timings(),
    )


@contextmanager
def scrubbed() -> Iterator[None]:
    """Makes any exception leaving the block safe to print: no secret along its chain.

    The backend scrubs its own errors; fetch, render and cache errors (an HTTP error quoting a
    URL with a password, say) leave through here.
    """
    try:
        yield
    except Exception as exc:
        from invoiceai.secrets import scrub_exception

        scrub_exception(exc)
        raise


def _drop_frames(error: BaseException) -> None:
    """Clears the locals of the frames along ``error``'s chain, keeping files and lines.

    A batch keeps its failures (``extract_many`` all of them, a stream the last ones for
    duplicates), and a traceback's frames would keep each failed document's bytes, rendered
    pages and open PDF alive with them.
    """
    import traceback

    from invoiceai.secrets.chains import chain_members

    for member in chain_members(error):
        if member.__traceback__ is not None:
            traceback.clear_frames(member.__traceback__)


def attachment_warning(error: Exception) -> str:
    """The warning for an embedded e-invoice that could not be read (the pages are read instead).

    An Order-X order is not an invoice whatever its pages look like, and a missing or wrong
    password stops the pages too: those are raised again, as is anything untyped (a defect).
    Anything else the attachment did (hostile or broken XML, a damaged file specification, one
    over ``max_attachment_bytes``) must not stop a PDF whose pages are fine.

    Raises:
        NotAnInvoiceError, EncryptedDocumentError: ``error`` itself.
    """
    from invoiceai.errors import EncryptedDocumentError, NotAnInvoiceError

    if isinstance(error, (NotAnInvoiceError, EncryptedDocumentError)) or not isinstance(error, InvoiceAIError):
        raise error
    return f"the embedded e-invoice could not be read ({error.message}); read the pages"
