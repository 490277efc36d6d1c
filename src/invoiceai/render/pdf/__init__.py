"""Everything that opens or writes a PDF: pages, text layers, attachments, encryption, Factur-X.

```python
from invoiceai.documents import load_document
from invoiceai.einvoice import read_einvoice
from invoiceai.pages import ImageBudget
from invoiceai.render.pdf import PdfRenderer

with PdfRenderer().open(load_document("invoice.pdf")) as source:  # the PDF is opened once
    embedded = source.embedded_einvoice()
    if embedded is not None:
        invoice = read_einvoice(embedded.data)
    else:
        pages = list(source.render(ImageBudget()))
```

Modules: :mod:`~invoiceai.render.pdf.renderer` (the renderer and its page source),
:mod:`~invoiceai.render.pdf.document` (opening, passwords, encryption),
:mod:`~invoiceai.render.pdf.raster` (pages to pixels), :mod:`~invoiceai.render.pdf.attachments`
(the embedded e-invoice), :mod:`~invoiceai.render.pdf.facturx` (writing Factur-X),
:mod:`~invoiceai.render.pdf.lock` (the process-wide pdfium lock every pdfium call holds),
:mod:`~invoiceai.render.pdf.scan` (the stream pre-scan) and
:mod:`~invoiceai.render.pdf.sandbox` (pdfium in worker processes capped at ``render_memory_limit``).

Importing this package loads neither pypdfium2, pypdf nor Pillow; they load when first used.
"""

from __future__ import annotations

from invoiceai.render.pdf.attachments import EmbeddedXml, find_embedded_invoice, read_embedded_invoice
from invoiceai.render.pdf.facturx import image_to_pdf, to_facturx
from invoiceai.render.pdf.lock import PDFIUM_LOCK
from invoiceai.render.pdf.renderer import PdfPageSource, PdfRenderer

__all__ = [
    "PDFIUM_LOCK",
    "EmbeddedXml",
    "PdfPageSource",
    "PdfRenderer",
    "find_embedded_invoice",
    "image_to_pdf",
    "read_embedded_invoice",
    "to_facturx",
]
