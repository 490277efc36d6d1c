"""Rendering documents into API-ready pages.

```python
from invoiceai.documents import load_document
from invoiceai.pages import ImageBudget
from invoiceai.render import open_document

source = open_document(load_document("invoice.pdf"), pages="1-3")
for page in source.render(ImageBudget()):
    ...  # page.data, page.media_type, page.text, page.born_digital
```

Importing this package loads neither pypdfium2 nor Pillow; they load when a document is opened.
"""

from __future__ import annotations

from invoiceai.render.base import Renderer
from invoiceai.render.image import ImagePageSource, ImageRenderer
from invoiceai.render.pdf import PdfPageSource, PdfRenderer
from invoiceai.render.registry import ENTRY_POINT_GROUP, RendererRegistry, open_document
from invoiceai.render.selection import Pages, PageSelection, parse_pages

__all__ = [
    "ENTRY_POINT_GROUP",
    "ImagePageSource",
    "ImageRenderer",
    "PageSelection",
    "Pages",
    "PdfPageSource",
    "PdfRenderer",
    "Renderer",
    "RendererRegistry",
    "open_document",
    "parse_pages",
]
