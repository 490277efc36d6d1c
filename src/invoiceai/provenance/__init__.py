"""Where each extracted value came from, how sure we are of it, and whether a person should look.

Pure: words with boxes and an :class:`~invoiceai.Invoice` in, provenance out. The word layers
come from :mod:`invoiceai.render.pdf.words` (born-digital PDF pages) and
:mod:`invoiceai.render.ocr` (scans and photos); the extractor wires them together and puts the
result on :attr:`invoiceai.Extraction.provenance`.

```python
from invoiceai.provenance import PageWords, ground_invoice, review

grounded = ground_invoice(invoice, [PageWords.from_raw(1, words, "text")])
grounded.provenance["total"].box       # Box(x0=..., y0=..., x1=..., y1=...)
review(grounded.provenance, grounded.findings).needs_review
```
"""

from __future__ import annotations

from invoiceai.provenance.ground import UNGROUNDED, Grounded, field_kind, ground_invoice, invoice_values
from invoiceai.provenance.model import (
    Box,
    Confidence,
    FieldProvenance,
    Grounding,
    LayerKind,
    Match,
    PageWords,
    Provenance,
    Word,
)
from invoiceai.provenance.review import Review, ReviewPolicy, review

__all__ = [
    "UNGROUNDED",
    "Box",
    "Confidence",
    "FieldProvenance",
    "Grounded",
    "Grounding",
    "LayerKind",
    "Match",
    "PageWords",
    "Provenance",
    "Review",
    "ReviewPolicy",
    "Word",
    "field_kind",
    "ground_invoice",
    "invoice_values",
    "review",
]
