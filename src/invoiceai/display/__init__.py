"""How results look: notebook HTML and one-line text summaries.

This package sits above ``schema`` and imports only ``schema`` and the bottom-layer modules
(``usage``, ``errors``); the results it shows (``Extraction``, ``ExtractionFailure``) are described
by the protocols in :mod:`invoiceai.display.text`, so it never imports the extractor. The invoice
table itself is ``schema``'s own minimal renderer (:mod:`invoiceai.schema.html`), which
``Invoice._repr_html_`` uses directly and this package builds on.

Jupyter calls ``_repr_html_`` on :class:`~invoiceai.Extraction` and
:class:`~invoiceai.ExtractionFailure`, which land here.
"""

from __future__ import annotations

from invoiceai.display.html import extraction_html, failure_html, invoice_html
from invoiceai.display.text import (
    ShownExtraction,
    ShownFailure,
    amount_text,
    extraction_summary,
    extraction_text,
    failure_summary,
    failure_text,
)

__all__ = [
    "ShownExtraction",
    "ShownFailure",
    "amount_text",
    "extraction_html",
    "extraction_summary",
    "extraction_text",
    "failure_html",
    "failure_summary",
    "failure_text",
    "invoice_html",
]
